// The type check has teeth: each mutant of src/book.ts must fail to
// compile, or this script fails. Mutants: a misspelt member of a handled
// problem type, and a problem type of the operation no case handles (as
// when the spec adds one). Run after `npm run build` (src/berth.d.ts).
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";

const source = readFileSync("src/book.ts", "utf8");
// [what, from, to, the error the compiler must give]; the first, unchanged,
// must compile (so a broken setup cannot pass for a refused mutant).
const mutants = [
  ["the source itself", "", "", null],
  ["a misspelt member", "problem.available > 0", "problem.availble > 0", /error TS2551: Property 'availble' does not exist/],
  [
    "an unhandled problem type",
    '    case "notice-too-short":\n      return `start at ${problem.earliest_start_at} or later`;\n',
    "",
    /error TS2322: Type '\{[^']*code: "notice-too-short"[^']*' is not assignable to type 'never'/,
  ],
];
/** The compiler's output for `text` as src/mutant.ts ("" when it compiles). */
function compile(text) {
  writeFileSync("src/mutant.ts", text);
  writeFileSync(
    "tsconfig.mutant.json",
    JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { noEmit: true }, include: [], files: ["src/mutant.ts"] }),
  );
  try {
    execFileSync("npx", ["--no-install", "tsc", "-p", "tsconfig.mutant.json"], { stdio: "pipe" });
    return "";
  } catch (error) {
    return String(error.stdout);
  } finally {
    rmSync("src/mutant.ts", { force: true });
    rmSync("tsconfig.mutant.json", { force: true });
  }
}
let failed = false;
for (const [what, from, to, expected] of mutants) {
  if (!source.includes(from)) throw new Error(`mutant "${what}": src/book.ts no longer contains ${JSON.stringify(from)}`);
  const output = compile(source.replace(from, to));
  const ok = expected === null ? output === "" : expected.test(output);
  const said = output.split("\n").find((line) => line.includes("error TS"))?.trim() ?? "compiles";
  console.log(`compile-fails: ${what}: ${ok ? "as expected" : "NOT AS EXPECTED"} (${said})`);
  failed ||= !ok;
}
if (failed) process.exit(1);
