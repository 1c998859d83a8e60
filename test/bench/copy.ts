/**
 * I/O ceiling baseline: a Node stream copy of the file, createReadStream (1 MiB reads) piped to
 * createWriteStream. What a command that changes no record could at best do in Node.
 *
 * Usage: node test/bench/copy.ts <in> <out>
 */
import { createReadStream, createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  process.stderr.write("usage: node test/bench/copy.ts <in> <out>\n");
  process.exit(2);
}
await pipeline(createReadStream(input, { highWaterMark: 1 << 20 }), createWriteStream(output));
