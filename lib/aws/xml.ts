// The XML that AWS query APIs (IAM, STS) answer with, read into plain values: enough XML for those documents
// (elements, text, entities, CDATA; no DTDs or namespaces-as-semantics), not a general parser.

/** One element: its name without prefix, child elements in order, and its text (entities decoded). */
export interface XmlElement {
  name: string;
  children: XmlElement[];
  text: string;
}

/** Thrown for text that is not well-formed enough to read. */
export class XmlError extends Error {
  override readonly name = "XmlError";
}

const entities: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** Decodes the five named entities and numeric character references. Pure. */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, ref: string) => {
    if (ref.startsWith("#x")) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith("#")) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    return entities[ref] ?? whole;
  });
}

/** Parses a document into its root element. Throws XmlError when tags do not match. Pure. */
export function parseXml(text: string): XmlElement {
  const root: XmlElement = { name: "", children: [], text: "" };
  const stack: XmlElement[] = [root];
  const tag =
    /<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|<!\[CDATA\[([\s\S]*?)\]\]>|<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<![^>]*>/g;
  let last = 0;
  for (let m = tag.exec(text); m; m = tag.exec(text)) {
    const top = stack[stack.length - 1]!;
    top.text += decodeEntities(text.slice(last, m.index));
    last = tag.lastIndex;
    const [, closing, qname, , selfClosing, cdata] = m;
    if (cdata !== undefined) {
      top.text += cdata;
      continue;
    }
    if (!qname) continue; // declaration, comment, doctype
    const name = qname.includes(":") ? qname.slice(qname.indexOf(":") + 1) : qname;
    if (closing) {
      if (stack.length < 2 || top.name !== name) throw new XmlError(`unexpected </${qname}>`);
      stack.pop();
      continue;
    }
    const element: XmlElement = { name, children: [], text: "" };
    top.children.push(element);
    if (!selfClosing) stack.push(element);
  }
  if (stack.length !== 1) throw new XmlError(`<${stack[stack.length - 1]!.name}> is not closed`);
  const [first] = root.children;
  if (!first || root.children.length !== 1) throw new XmlError("not one root element");
  return first;
}

/** A plain value in the shape the AWS SDKs give. */
export type XmlValue = string | XmlValue[] | { [name: string]: XmlValue };

/**
 * The query protocol's mapping: an element without children is its text, one whose children are all `member` a
 * list, any other an object by child name. An empty list reads as "" (the protocol cannot tell them apart), so
 * readers take lists through `listOf`. Pure.
 */
export function xmlValue(element: XmlElement): XmlValue {
  if (element.children.length === 0) return element.text.trim() === "" ? "" : element.text;
  if (element.children.every((c) => c.name === "member")) return element.children.map(xmlValue);
  const out: { [name: string]: XmlValue } = {};
  for (const child of element.children) out[child.name] = xmlValue(child);
  return out;
}

/** The first child element named `name`, or undefined. */
export function childNamed(element: XmlElement | undefined, name: string): XmlElement | undefined {
  return element?.children.find((c) => c.name === name);
}

/** A list field: the array, or [] for an empty or absent one. */
export function listOf(value: XmlValue | undefined): XmlValue[] {
  return Array.isArray(value) ? value : [];
}

/** A structure's field, or undefined when `value` is not a structure. */
export function fieldOf(value: XmlValue | undefined, name: string): XmlValue | undefined {
  return value !== undefined && typeof value === "object" && !Array.isArray(value) ? value[name] : undefined;
}

/** A text field, or undefined when absent or not text. */
export function textOf(value: XmlValue | undefined, name: string): string | undefined {
  const v = fieldOf(value, name);
  return typeof v === "string" ? v : undefined;
}
