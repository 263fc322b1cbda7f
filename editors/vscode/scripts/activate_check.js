#!/usr/bin/env node
// Load extension.js with stand-ins for the `vscode` API and vscode-languageclient, activate it, and print
// (JSON) how it started the language server: the command, its arguments, the documents it serves.
//   ARCHDSL_PATH=/x/bin/archdsl node scripts/activate_check.js     (the setting `archdsl.path`)
// Used by tests/test_highlight.py; needs no npm package.
"use strict";
const Module = require("module");
const path = require("path");

const started = [];
const settings = { path: process.env.ARCHDSL_PATH || undefined, args: [] };
const vscode = {
  workspace: {
    getConfiguration: (section) => ({ get: (key) => (section === "archdsl" ? settings[key] : undefined) }),
    createFileSystemWatcher: (glob) => ({ glob }),
    onDidChangeConfiguration: () => ({ dispose() {} }),
  },
  window: { showErrorMessage: (m) => started.push({ error: m }) },
  commands: { registerCommand: (name) => ({ name, dispose() {} }) },
};
class LanguageClient {
  constructor(id, name, server, client) {
    Object.assign(this, { id, name, server, client });
  }
  async start() {
    started.push({
      id: this.id,
      command: this.server.run.command,
      args: this.server.run.args,
      transport: this.server.run.transport,
      languages: this.client.documentSelector.map((d) => d.language),
    });
  }
  async stop() {}
}
const stubs = { vscode, "vscode-languageclient/node": { LanguageClient, TransportKind: { stdio: "stdio" } } };
const load = Module._load;
Module._load = function (request, ...rest) {
  return request in stubs ? stubs[request] : load.call(this, request, ...rest);
};

const ext = require(path.resolve(__dirname, "..", "extension.js"));
const context = { subscriptions: [] };
Promise.resolve(ext.activate(context)).then(() => {
  process.stdout.write(JSON.stringify({ started, subscriptions: context.subscriptions.length }));
});
