// The type check has teeth: each mutant of src/book.ts must fail to
// compile, or this script fails. Mutants: a misspelt member of a handled
// problem type, and a problem type of the operation no case handles (as
// when the spec adds one). Run after `npm run build` (src/berth.d.ts).
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";

const source = readFileSync("src/book.ts", "utf8");
const mutants = [
  ["a misspelt member", "problem.available > 0", "problem.availble > 0"],
  ["an unhandled problem type", '    case "notice-too-short":\n      return `start at ${problem.earliest_start_at} or later`;\n', ""],
];
let failed = false;
for (const [what, from, to] of mutants) {
  if (!source.includes(from)) throw new Error(`mutant "${what}": src/book.ts no longer contains ${JSON.stringify(from)}`);
  writeFileSync("src/mutant.ts", source.replace(from, to));
  writeFileSync(
    "tsconfig.mutant.json",
    JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { noEmit: true }, include: [], files: ["src/mutant.ts"] }),
  );
  try {
    execFileSync("npx", ["--no-install", "tsc", "-p", "tsconfig.mutant.json"], { stdio: "pipe" });
    console.error(`compile-fails: ${what} compiled; the type check would not catch it`);
    failed = true;
  } catch (error) {
    const first = String(error.stdout).split("\n").find((line) => line.includes("error TS")) ?? "";
    console.log(`compile-fails: ${what} refused: ${first.trim()}`);
  } finally {
    rmSync("src/mutant.ts", { force: true });
    rmSync("tsconfig.mutant.json", { force: true });
  }
}
if (failed) process.exit(1);
