// AWS Signature Version 4 for requests with a body in memory (the query APIs), on Web Crypto.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html

/** The keys a request is signed with. */
export interface AwsCredentialKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

const encoder = new TextEncoder();

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function sha256Hex(text: string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

async function hmac(key: ArrayBuffer | Uint8Array<ArrayBuffer>, text: string): Promise<ArrayBuffer> {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return await crypto.subtle.sign("HMAC", k, encoder.encode(text));
}

// The derived key changes once a day per region and service; the SDK caches it too, which saves four HMACs a call.
let lastKey: { secret: string; scope: string; key: ArrayBuffer } | undefined;

async function signingKey(secret: string, scope: string): Promise<ArrayBuffer> {
  if (lastKey?.secret === secret && lastKey.scope === scope) return lastKey.key;
  const [day, ...parts] = scope.split("/");
  let key = await hmac(encoder.encode(`AWS4${secret}`), day!);
  for (const part of parts) key = await hmac(key, part);
  lastKey = { secret, scope, key };
  return key;
}

/** RFC 3986 percent-encoding, as SigV4 and the query protocol want it. Pure. */
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** "20150830T123600Z" for a date. Pure. */
export function amzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/**
 * The headers to send for a signed request: the given ones plus host, x-amz-date, x-amz-security-token (with a
 * session token) and authorization. Every given header is signed.
 */
export async function signRequest(request: {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string;
  credentials: AwsCredentialKeys;
  region: string;
  service: string;
  now: Date;
}): Promise<Record<string, string>> {
  const { url, credentials, region, service } = request;
  const date = amzDate(request.now);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(request.headers)) headers[k.toLowerCase()] = v.trim().replace(/\s+/g, " ");
  headers["host"] = url.host;
  headers["x-amz-date"] = date;
  if (credentials.sessionToken) headers["x-amz-security-token"] = credentials.sessionToken;
  const names = Object.keys(headers).sort();
  const signedHeaders = names.join(";");
  const query = [...url.searchParams]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort(([a, x], [b, y]) => a! < b! ? -1 : a! > b! ? 1 : x! < y! ? -1 : x! > y! ? 1 : 0)
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const path = url.pathname.split("/").map((s) => uriEncode(decodeURIComponent(s))).join("/") || "/";
  const canonical = [
    request.method,
    path,
    query,
    ...names.map((n) => `${n}:${headers[n]}`),
    "",
    signedHeaders,
    await sha256Hex(request.body),
  ].join("\n");
  const day = date.slice(0, 8);
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", date, scope, await sha256Hex(canonical)].join("\n");
  const signature = hex(await hmac(await signingKey(credentials.secretAccessKey, scope), toSign));
  headers["authorization"] =
    `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}
