import { deepStrictEqual } from "node:assert/strict";
import { lineDiff } from "./text_diff.ts";

Deno.test("lineDiff() marks removed and added lines around common ones", async (t) => {
  const cases = [
    { name: "equal texts give nothing", a: "x\ny\n", b: "x\ny\n", want: [] },
    { name: "creation is all added", a: "", b: "a\nb", want: ["+ a", "+ b"] },
    { name: "deletion is all removed", a: "a\nb\n", b: "", want: ["- a", "- b"] },
    { name: "one line changed", a: "a\nb\nc", b: "a\nB\nc", want: ["  a", "- b", "+ B", "  c"] },
    { name: "line inserted", a: "a\nc", b: "a\nb\nc", want: ["  a", "+ b", "  c"] },
  ];
  for (const c of cases) await t.step(c.name, () => deepStrictEqual(lineDiff(c.a, c.b), c.want));
});
