// Block-style YAML for the small documents the apiserver steps print (flag lists, name/value lists, nested
// maps of strings). The daemon renders those steps on every IRSASetup reconcile, and loading the `yaml` package
// there would start Node's CommonJS loader, several MiB of resident memory, for a few lines of text. The layout is
// the `yaml` package's default (two spaces, sequences indented under their key), so the CLI prints the same text.

/** A value this emitter writes. */
export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

/** The document as `yaml`'s `stringify` writes it, ending with a newline. */
export function toYaml(value: YamlValue): string {
  return lines(value, 0).join("\n") + "\n";
}

function lines(value: YamlValue, indent: number): string[] {
  const pad = " ".repeat(indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${pad}[]`];
    return value.flatMap((item) => {
      if (isCollection(item) && !isEmpty(item)) {
        // The first line of a nested collection shares the "- " line.
        const [first, ...rest] = lines(item, indent + 2);
        return [`${pad}- ${first!.trimStart()}`, ...rest];
      }
      return [`${pad}- ${isCollection(item) ? (Array.isArray(item) ? "[]" : "{}") : scalar(item)}`];
    });
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value);
    if (entries.length === 0) return [`${pad}{}`];
    return entries.flatMap(([key, item]) =>
      isCollection(item) && !isEmpty(item)
        ? [`${pad}${scalar(key)}:`, ...lines(item, indent + 2)]
        : [`${pad}${scalar(key)}: ${isCollection(item) ? (Array.isArray(item) ? "[]" : "{}") : scalar(item)}`]
    );
  }
  return [`${pad}${scalar(value)}`];
}

function isCollection(v: YamlValue): v is YamlValue[] | { [key: string]: YamlValue } {
  return v !== null && typeof v === "object";
}

function isEmpty(v: YamlValue[] | { [key: string]: YamlValue }): boolean {
  return Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0;
}

// Strings YAML 1.2's core schema reads as something else than a string.
const coreNonString =
  /^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
// Plain when every character is one that needs no quoting anywhere, and the first cannot start an indicator. This
// is narrower than YAML allows: anything else is double-quoted, which reads back the same.
const plainSafe = /^(?:[A-Za-z0-9/._~]|-(?=[^ ]))[A-Za-z0-9/._~=:@%+,-]*$/;

function scalar(value: string | number | boolean | null): string {
  if (value === null) return "null";
  if (typeof value !== "string") return String(value);
  if (plainSafe.test(value) && !coreNonString.test(value) && !value.endsWith(":")) return value;
  return JSON.stringify(value);
}
