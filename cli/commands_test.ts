import { deepStrictEqual } from "node:assert/strict";
import { helpRequest } from "./commands.ts";

Deno.test("helpRequest() recognises help without loading the parser", async (t) => {
  const cases: { name: string; argv: string[]; want: ReturnType<typeof helpRequest> }[] = [
    { name: "no arguments", argv: [], want: {} },
    { name: "--help", argv: ["--help"], want: {} },
    { name: "-h", argv: ["-h"], want: {} },
    { name: "help", argv: ["help"], want: {} },
    { name: "help init", argv: ["help", "init"], want: { topic: "init" } },
    { name: "init --help", argv: ["init", "--bucket", "b", "--help"], want: { topic: "init" } },
    { name: "version -h", argv: ["version", "-h"], want: { topic: "version" } },
    { name: "help bind", argv: ["help", "bind"], want: { topic: "bind" } },
    { name: "bind sa NAME --help", argv: ["bind", "sa", "api", "--policy", "P", "--help"], want: { topic: "bind" } },
    { name: "unbind -h", argv: ["unbind", "sa", "api", "-h"], want: { topic: "unbind" } },
    { name: "list --help", argv: ["list", "-A", "--help"], want: { topic: "list" } },
    { name: "doctor sa NAME -h", argv: ["doctor", "sa", "api", "--sts", "-h"], want: { topic: "doctor" } },
    { name: "a plain bind is not help", argv: ["bind", "sa", "api", "--policy", "P"], want: null },
    { name: "unknown topic goes to the parser", argv: ["help", "bogus"], want: null },
    { name: "daemon --help", argv: ["daemon", "--help"], want: { topic: "daemon" } },
    { name: "help daemon", argv: ["help", "daemon"], want: { topic: "daemon" } },
    { name: "unknown command with --help goes to the parser", argv: ["bogus", "--help"], want: null },
    { name: "a plain command is not help", argv: ["init", "--bucket", "b"], want: null },
    { name: "help with extra words goes to the parser", argv: ["help", "init", "x"], want: null },
  ];
  for (const c of cases) await t.step(c.name, () => deepStrictEqual(helpRequest(c.argv), c.want));
});
