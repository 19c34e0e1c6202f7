// A client not written here: the official TypeScript SDK's client side (@agentclientprotocol/sdk)
// drives the agent over stdio and prints what it saw as one JSON line on stdout.
// Usage: node ts_client.mjs SDK_DIR WORKSPACE -- AGENT_COMMAND...
// SDK_DIR holds node_modules/@agentclientprotocol/sdk (installed by the test, outside the repo).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pathToFileURL } from "node:url";

const [sdkDir, workspace, dashes, ...agentCommand] = process.argv.slice(2);
if (dashes !== "--" || agentCommand.length === 0) {
  console.error("usage: node ts_client.mjs SDK_DIR WORKSPACE -- AGENT_COMMAND...");
  process.exit(2);
}
const entry = createRequire(join(sdkDir, "package.json")).resolve("@agentclientprotocol/sdk");
const acp = await import(pathToFileURL(entry).href);

const agent = spawn(agentCommand[0], agentCommand.slice(1), { stdio: ["pipe", "pipe", "inherit"] });
const stream = acp.ndJsonStream(Writable.toWeb(agent.stdin), Readable.toWeb(agent.stdout));
const seen = { updates: [], writes: [], permissions: [] };

const app = acp
  .client({ name: "ts-sdk-test" })
  .onRequest("fs/read_text_file", ({ params }) => ({ content: readFileSync(params.path, "utf8") }))
  .onRequest("fs/write_text_file", ({ params }) => {
    seen.writes.push({ path: params.path, content: params.content });
    return {};
  })
  .onRequest("session/request_permission", ({ params }) => {
    seen.permissions.push(params.options.map((o) => o.kind));
    const allow = params.options.find((o) => o.kind === "allow_once");
    return { outcome: { outcome: "selected", optionId: allow.optionId } };
  })
  .onNotification("session/update", ({ params }) => {
    seen.updates.push(params.update);
  });

try {
  await app.connectWith(stream, async (ctx) => {
    seen.initialize = await ctx.request("initialize", {
      protocolVersion: acp.PROTOCOL_VERSION,
      clientCapabilities: { fs: { readTextFile: true, writeTextFile: true }, terminal: false },
      clientInfo: { name: "ts-sdk-test", version: "1.0.0" },
    });
    const session = await ctx.request("session/new", { cwd: workspace, mcpServers: [] });
    seen.session = session;
    seen.setModel = await ctx.request("session/set_config_option", {
      sessionId: session.sessionId,
      configId: "model",
      value: session.configOptions.find((o) => o.id === "model").currentValue,
    });
    const answer = await ctx.request("session/prompt", {
      sessionId: session.sessionId,
      prompt: [
        { type: "text", text: "fix add" },
        { type: "resource_link", name: "app.py", uri: pathToFileURL(join(workspace, "app.py")).href },
      ],
    });
    seen.stopReason = answer.stopReason;
  });
} finally {
  agent.stdin.end();
}
process.stdout.write(JSON.stringify(seen) + "\n");
