// Transcode then loudness-normalize the payload's input with ferrostack-media.
"use strict";
const { execFileSync } = require("child_process");
const fs = require("fs");

function media(...args) {
  try {
    return JSON.parse(execFileSync("ferrostack-media", [...args, "--json"], { encoding: "utf8" }));
  } catch (err) {
    process.stderr.write(String(err.stdout || "") + String(err.stderr || ""));
    process.exit(err.status || 1);
  }
}

const payload = JSON.parse(fs.readFileSync(process.env.PAYLOAD_FILE, "utf8"));
const tmp = payload.output + ".transcoded.mp4";
const transcoded = media("transcode", payload.input, tmp, "--preset", "mp4-h264-aac");
const normalized = media("normalize", tmp, payload.output);
fs.unlinkSync(tmp);
console.log(JSON.stringify({ worker: "node", transcode: transcoded, normalize: normalized }));
