/**
 * One reader of a JSON array, for the json-array benchmark: `ours` (src/datasets/json-array.ts)
 * or `stream-json` (streamArray over its parser). Prints the number of items and a checksum of
 * their instance_ids, so the two can be checked against each other.
 *
 * Usage: node test/bench/json-array-reader.ts ours|stream-json <file.json>
 */
import { createReadStream } from "node:fs";
import { readJsonArray } from "../../src/datasets/json-array.ts";

const [mode, file] = process.argv.slice(2);
if ((mode !== "ours" && mode !== "stream-json") || !file) {
  process.stderr.write("usage: node test/bench/json-array-reader.ts ours|stream-json <file.json>\n");
  process.exit(2);
}
let items = 0;
let sum = 0;
const take = (value: unknown) => {
  items++;
  const id = (value as { instance_id?: string }).instance_id ?? "";
  for (let i = 0; i < id.length; i++) sum = (sum * 31 + id.charCodeAt(i)) >>> 0;
};
const source = createReadStream(file, { highWaterMark: 1 << 20 });
if (mode === "ours") {
  for await (const item of readJsonArray(source, { file })) take(item.value);
} else {
  const { streamArray } = await import("stream-json/streamers/stream-array.js");
  for await (const item of source.pipe(streamArray.withParserAsStream()) as AsyncIterable<{ value: unknown }>) take(item.value);
}
process.stdout.write(`${items} ${sum}\n`);
