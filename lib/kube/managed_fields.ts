// Reads server-side apply ownership: which annotations a field manager owns on an object.

/** One entry of metadata.managedFields. */
export interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  fieldsV1?: Record<string, unknown>;
}

/** The annotation keys that `manager` owns through Apply operations. */
export function ownedAnnotationKeys(entries: ManagedFieldsEntry[] | undefined, manager: string): string[] {
  const keys = new Set<string>();
  for (const e of entries ?? []) {
    if (e.manager !== manager || e.operation !== "Apply") continue;
    const annotations = (e.fieldsV1?.["f:metadata"] as Record<string, unknown> | undefined)?.["f:annotations"];
    for (const k of Object.keys((annotations as Record<string, unknown> | undefined) ?? {})) {
      if (k.startsWith("f:")) keys.add(k.slice(2));
    }
  }
  return [...keys].sort();
}
