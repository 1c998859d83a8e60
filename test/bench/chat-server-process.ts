/**
 * The test chat server (test/chat-server.ts) as a process of its own, so a benchmark client does
 * not share its event loop: prints its base URL on stdout, and on SIGTERM prints the highest
 * number of requests it had in flight, then exits.
 *
 * Usage: node test/bench/chat-server-process.ts <latency ms>
 */
import { startChatServer } from "../chat-server.ts";

const chat = await startChatServer({ latencyMs: Number(process.argv[2] ?? 50) });
process.stdout.write(`${chat.baseURL}\n`);
process.on("SIGTERM", async () => {
  process.stdout.write(`maxInFlight ${chat.maxInFlight}\n`);
  await chat.close();
  process.exit(0);
});
