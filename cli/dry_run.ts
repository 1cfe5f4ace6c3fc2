// Renders a plan for --dry-run: one line per action, the content diff indented below it.

/** The text of a plan: a header, then each action with its diff lines. */
export function renderPlan<A>(
  actions: A[],
  describe: (a: A) => string,
  diff: (a: A) => string[],
): string {
  const lines = [
    actions.length === 0
      ? "Plan: no changes (dry run)"
      : `Plan: ${actions.length} changes (dry run, nothing was changed)`,
  ];
  for (const a of actions) {
    lines.push(`  • ${describe(a)}`);
    for (const d of diff(a)) lines.push(`      ${d}`);
  }
  return lines.join("\n") + "\n";
}
