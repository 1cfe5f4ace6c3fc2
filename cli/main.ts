// The CLI entry: parse, dispatch to the command's module (loaded lazily so `--help` stays instant), and map
// errors to one line and an exit code: 0 ok, 1 failure, 2 usage.
import { helpRequest } from "./commands.ts";
import { helpText } from "./help.ts";
import { describeError } from "./describe_error.ts";

/** Where a command writes: stdout for results, stderr for progress and errors. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: { get(name: string): string | undefined };
}

/** The process's own stdout, stderr and environment. */
export const processIo: Io = {
  out: (t) => writeAll(Deno.stdout, t),
  err: (t) => writeAll(Deno.stderr, t),
  env: Deno.env,
};

function writeAll(file: typeof Deno.stdout, text: string): void {
  const bytes = new TextEncoder().encode(text);
  let written = 0;
  while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
}

/** Runs the plugin for `argv` and returns the exit code. */
export async function runCli(argv: string[], io: Io = processIo): Promise<number> {
  const help = helpRequest(argv);
  if (help) {
    io.out(helpText(help.topic));
    return 0;
  }
  let verbose = false;
  try {
    const { parseCommand } = await import("./args.ts");
    const command = parseCommand(argv);
    verbose = "flags" in command && command.flags.verbose;
    switch (command.name) {
      case "help":
        io.out(helpText(command.topic as Parameters<typeof helpText>[0]));
        return 0;
      case "version": {
        const { versionText } = await import("./version.ts");
        io.out(versionText(command.flags, { deno: Deno.version.deno }));
        return 0;
      }
      case "init": {
        const { runInit } = await import("./init.ts");
        return await runInit(command, io);
      }
      case "bind": {
        const { runBind } = await import("./bind.ts");
        return await runBind(command, io);
      }
      case "unbind": {
        const { runUnbind } = await import("./unbind.ts");
        return await runUnbind(command, io);
      }
      case "list": {
        const { runList } = await import("./list.ts");
        return await runList(command, io);
      }
      case "install": {
        const { runInstall } = await import("./install.ts");
        return await runInstall(command, io);
      }
      case "uninstall": {
        const { runUninstall } = await import("./uninstall.ts");
        return await runUninstall(command, io);
      }
      case "doctor": {
        const { runDoctor } = await import("./doctor.ts");
        return await runDoctor(command, io);
      }
      case "rotate-key": {
        const { runRotateKey } = await import("./rotate_key.ts");
        return await runRotateKey(command, io);
      }
      case "completion": {
        const { completionScript } = await import("./completion.ts");
        io.out(completionScript(command.shell));
        return 0;
      }
      case "__complete": {
        const { runComplete } = await import("./completion.ts");
        return await runComplete(command, io);
      }
    }
  } catch (e) {
    const { message, exitCode } = describeError(e, { verbose });
    io.err(message + "\n");
    return exitCode;
  }
}
