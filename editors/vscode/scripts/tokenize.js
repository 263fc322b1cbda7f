#!/usr/bin/env node
// Tokenise .arch files with the extension's TextMate grammar, as VS Code does (vscode-textmate driven by
// the Oniguruma regular expressions compiled to WebAssembly, vscode-oniguruma).
//   node scripts/tokenize.js FILE...   ->  JSON on stdout: {"FILE": [[[start, end, [scopes...]], ...], ...]}
// one list of tokens per line (columns in UTF-16 code units, as the editor counts).  Used by
// tests/test_highlight.py; also a quick look at a file's scopes: node scripts/tokenize.js x.arch
"use strict";
const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const root = path.resolve(__dirname, "..");
// ARCHDSL_GRAMMAR: another grammar file (the tests check that a broken grammar is caught)
const grammarPath = process.env.ARCHDSL_GRAMMAR || path.join(root, "syntaxes", "archdsl.tmLanguage.json");
const wasm = fs.readFileSync(path.join(path.dirname(require.resolve("vscode-oniguruma")), "onig.wasm")).buffer;

async function main(files) {
  await oniguruma.loadWASM(wasm);
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) =>
      scopeName === "source.archdsl"
        ? vsctm.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath)
        : null,
  });
  const grammar = await registry.loadGrammar("source.archdsl");
  const out = {};
  for (const file of files) {
    const lines = fs.readFileSync(file, "utf8").replace(/\r\n?/g, "\n").split("\n");
    let stack = vsctm.INITIAL;
    out[file] = lines.map((line) => {
      const r = grammar.tokenizeLine(line, stack);
      stack = r.ruleStack;
      return r.tokens.map((t) => [t.startIndex, Math.min(t.endIndex, line.length), t.scopes]);
    });
  }
  process.stdout.write(JSON.stringify(out));
}

main(process.argv.slice(2)).catch((e) => {
  console.error(e);
  process.exit(1);
});
