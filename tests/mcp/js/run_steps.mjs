// Runs a list of MCP steps against a milvus-rag server with the TypeScript client SDK
// (@modelcontextprotocol/sdk) and prints what came back as one JSON object on stdout.
// Driven by tests/mcp/test_mcp_sdks.py, which asserts on the output; the Python SDK runs the
// same steps (tests/mcp/steps.py), so both SDKs are checked against one table.
//
// usage: node run_steps.mjs CONFIG.json
// CONFIG: {"transport": "stdio", "command": ..., "args": [...], "env": {...}, "cwd": ...,
//          "steps": [...]}  or  {"transport": "http", "url": ..., "token": ..., "steps": [...]}
import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const TIMEOUT_MS = 240_000;

function transport() {
  if (config.transport === "stdio") {
    return new StdioClientTransport({
      command: config.command,
      args: config.args,
      env: config.env,
      cwd: config.cwd,
      stderr: "inherit",
    });
  }
  const headers = config.token ? { Authorization: `Bearer ${config.token}` } : {};
  return new StreamableHTTPClientTransport(new URL(config.url), { requestInit: { headers } });
}

async function runStep(client, step) {
  const opts = { timeout: TIMEOUT_MS };
  switch (step.op) {
    case "listTools": {
      const { tools } = await client.listTools(undefined, opts);
      return {
        tools: tools.map((t) => ({
          name: t.name,
          annotations: t.annotations ?? null,
          properties: Object.keys(t.inputSchema?.properties ?? {}).sort(),
        })),
      };
    }
    case "callTool": {
      const progress = [];
      if (step.progress) {
        opts.onprogress = (p) => progress.push(p);
        opts.resetTimeoutOnProgress = true;
      }
      const r = await client.callTool(
        { name: step.name, arguments: step.arguments ?? {} },
        undefined,
        opts,
      );
      const text = (r.content ?? []).filter((c) => c.type === "text").map((c) => c.text);
      return {
        isError: Boolean(r.isError),
        structuredContent: r.structuredContent ?? null,
        text: text.join("\n"),
        progress,
      };
    }
    case "queryAll": {
      // follow next_cursor until the last page, as an agent pages through a query
      const rows = [];
      let cursor = null;
      let calls = 0;
      do {
        const args = { ...step.arguments, ...(cursor ? { cursor } : {}) };
        const r = await client.callTool({ name: "query", arguments: args }, undefined, opts);
        calls += 1;
        if (r.isError) {
          return { isError: true, text: (r.content ?? []).map((c) => c.text).join("\n"), calls };
        }
        rows.push(...r.structuredContent.rows);
        cursor = r.structuredContent.next_cursor;
      } while (cursor);
      return { isError: false, rows, calls };
    }
    case "listResources": {
      const { resources } = await client.listResources(undefined, opts);
      return { resources: resources.map((r) => ({ uri: r.uri, name: r.name })) };
    }
    case "listResourceTemplates": {
      const { resourceTemplates } = await client.listResourceTemplates(undefined, opts);
      return { templates: resourceTemplates.map((t) => ({ uriTemplate: t.uriTemplate, name: t.name })) };
    }
    case "readResource": {
      const { contents } = await client.readResource({ uri: step.uri }, opts);
      return { contents: contents.map((c) => ({ uri: c.uri, mimeType: c.mimeType, text: c.text })) };
    }
    default:
      throw new Error(`unknown step ${step.op}`);
  }
}

const client = new Client({ name: "milvus-rag-js-test", version: "1.0.0" });
await client.connect(transport());
const server = client.getServerVersion();
const results = [];
for (const step of config.steps) {
  try {
    results.push(await runStep(client, step));
  } catch (e) {
    results.push({ exception: String(e?.message ?? e) });
  }
}
await client.close();
process.stdout.write(JSON.stringify({ server: { name: server?.name, version: server?.version }, results }));
process.exit(0);
