/**
 * The test chat server (test/chat-server.ts) as a process of its own, so a benchmark client does
 * not share its event loop: prints its base URL on stdout, and on SIGTERM prints the highest
 * number of requests it had in flight, how many it answered and the CPU time (user + system, µs)
 * it spent since it started listening, then exits.
 *
 * Usage: node test/bench/chat-server-process.ts <latency ms>
 */
import { startChatServer } from "../chat-server.ts";

const chat = await startChatServer({ latencyMs: Number(process.argv[2] ?? 50) });
const listening = process.cpuUsage();
process.stdout.write(`${chat.baseURL}\n`);
process.on("SIGTERM", async () => {
  const cpu = process.cpuUsage(listening);
  process.stdout.write(`maxInFlight ${chat.maxInFlight}\nrequests ${chat.total()}\ncpuMicros ${cpu.user + cpu.system}\n`);
  await chat.close();
  process.exit(0);
});
