// The champion/challenger split of udfs/arms.py, for JavaScript ad servers (Node.js): the same
// bucket from SHA-256 of `${salt}:${id}` (first 8 bytes, big-endian, modulo 10,000) and the same
// arm ranges in name order. tests/unit/test_arm_split.py holds the two equal.
import { createHash } from "node:crypto";

export const BUCKETS = 10000;

export function bucket(unitId, salt) {
  const digest = createHash("sha256").update(`${salt}:${unitId}`, "utf8").digest();
  return Number(digest.readBigUInt64BE(0) % BigInt(BUCKETS));
}

export function bounds(weights) {
  const arms = Object.keys(weights).sort();
  const total = arms.reduce((sum, arm) => sum + weights[arm], 0);
  if (arms.length === 0 || total <= 0 || arms.some((arm) => weights[arm] < 0)) {
    throw new Error(`arm weights must be non-negative with a positive sum: ${JSON.stringify(weights)}`);
  }
  let cumulative = 0;
  const out = arms.map((arm) => {
    cumulative += weights[arm];
    return [arm, Math.floor((BUCKETS * cumulative) / total + 0.5)]; // half up, as in Python
  });
  out[out.length - 1][1] = BUCKETS;
  return out;
}

export function armFor(unitId, salt, weights) {
  const b = bucket(unitId, salt);
  for (const [arm, end] of bounds(weights)) {
    if (b < end) return arm;
  }
  throw new Error("unreachable: the last arm ends at BUCKETS");
}

// CLI for tests: reads {"salt", "weights", "ids"} as JSON on stdin, prints [[bucket, arm], ...].
if (import.meta.url === `file://${process.argv[1]}`) {
  let input = "";
  process.stdin.on("data", (chunk) => (input += chunk));
  process.stdin.on("end", () => {
    const { salt, weights, ids } = JSON.parse(input);
    process.stdout.write(JSON.stringify(ids.map((id) => [bucket(id, salt), armFor(id, salt, weights)])));
  });
}
