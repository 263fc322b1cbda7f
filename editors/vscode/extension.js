// archdsl for VS Code: the grammar and language configuration are declared in package.json; this starts
// the language server, `archdsl lsp` (stdio), for .arch files. The command is the setting `archdsl.path`
// (default `archdsl` on PATH; point it at a virtual environment's bin/archdsl), plus `archdsl.args`.
"use strict";
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function serverOptions() {
  const cfg = vscode.workspace.getConfiguration("archdsl");
  const command = cfg.get("path") || "archdsl";
  const args = ["lsp", ...(cfg.get("args") || [])];
  const run = { command, args, transport: TransportKind.stdio };
  return { run, debug: run };
}

async function start(context) {
  client = new LanguageClient(
    "archdsl",
    "archdsl",
    serverOptions(),
    {
      documentSelector: [
        { scheme: "file", language: "archdsl" },
        { scheme: "untitled", language: "archdsl" },
      ],
      synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.arch") },
    }
  );
  try {
    await client.start();
  } catch (e) {
    const cmd = vscode.workspace.getConfiguration("archdsl").get("path") || "archdsl";
    vscode.window.showErrorMessage(
      `archdsl: could not start the language server \`${cmd} lsp\` (${e.message || e}). ` +
        "Install archdsl (pip install -e .) or set `archdsl.path` to its executable."
    );
  }
}

async function stop() {
  if (client) {
    const c = client;
    client = undefined;
    await c.stop();
  }
}

function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand("archdsl.restartServer", async () => {
      await stop();
      await start(context);
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration("archdsl.path") || e.affectsConfiguration("archdsl.args")) {
        await stop();
        await start(context);
      }
    })
  );
  return start(context);
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate };
