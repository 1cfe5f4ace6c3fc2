// S3 for the discovery bucket. Every bucket and object call carries ExpectedBucketOwner, so a bucket that
// another account owns (or registered after a delete) is never read from or written to.
import { IrsaError } from "../errors.ts";
import type { AwsClients } from "./clients.ts";
import { type S3Request, xmlEscape } from "./s3_client.ts";
import { awsError, isNotFound, sdkErrorCode } from "./sdk_errors.ts";
import { childNamed, parseXml, type XmlElement } from "./xml.ts";

/** Public access block settings of a bucket or account. */
export interface PublicAccessBlock {
  BlockPublicAcls: boolean;
  IgnorePublicAcls: boolean;
  BlockPublicPolicy: boolean;
  RestrictPublicBuckets: boolean;
}

/** What S3 holds for the discovery bucket. */
export type ObservedBucket =
  | { exists: false }
  | {
    exists: true;
    region: string;
    tags: Record<string, string>;
    publicAccessBlock: PublicAccessBlock | undefined;
    policy: string | undefined;
    objects: Record<string, string | undefined>;
  };

/** Thin port over S3 and S3 Control. */
export interface S3Port {
  /** The account-level public access block, or undefined when none is set (or it cannot be read). */
  accountPublicAccessBlock(account: string): Promise<PublicAccessBlock | undefined>;
  /** Reads the bucket and the given object keys. */
  observeBucket(bucket: string, options: { account: string; region: string; keys: string[] }): Promise<ObservedBucket>;
  createBucket(bucket: string, options: { region: string }): Promise<void>;
  putBucketTagging(
    bucket: string,
    options: { account: string; region: string; tags: Record<string, string> },
  ): Promise<void>;
  putPublicAccessBlock(
    bucket: string,
    options: { account: string; region: string; config: PublicAccessBlock },
  ): Promise<void>;
  putBucketPolicy(bucket: string, options: { account: string; region: string; policy: string }): Promise<void>;
  putObject(
    bucket: string,
    options: { account: string; region: string; key: string; body: string; contentType: string },
  ): Promise<void>;
  deleteObject(bucket: string, options: { account: string; region: string; key: string }): Promise<void>;
  /** Deletes an empty bucket; a missing bucket counts as deleted. */
  deleteBucket(bucket: string, options: { account: string; region: string }): Promise<void>;
}

/** `GetBucketLocation` answers null for us-east-1 and "EU" for the oldest eu-west-1 buckets. */
export function regionOfLocation(location: string | undefined | null): string {
  if (!location) return "us-east-1";
  return location === "EU" ? "eu-west-1" : location;
}

/**
 * What a failed HeadBucket (with ExpectedBucketOwner) means: 403 is a bucket of another account (or a denied
 * s3:ListBucket), 301 a bucket in another region. Pure.
 */
export function headBucketError(e: unknown, target: { bucket: string; account: string; region: string }): IrsaError {
  const { status } = sdkErrorCode(e);
  if (status === 403) {
    return new IrsaError(
      "conflict",
      "BucketNotOwned",
      `bucket "${target.bucket}" exists but is not owned by account ${target.account} (or s3:ListBucket is denied)`,
      { cause: e, remedies: [{ kind: "bucket" }] },
    );
  }
  if (status === 301) {
    return new IrsaError(
      "invalid",
      "BucketRegionMismatch",
      `bucket "${target.bucket}" is not in ${target.region}`,
      { cause: e, remedies: [{ kind: "bucketRegion" }] },
    );
  }
  return awsError(e, "s3:HeadBucket", target.bucket);
}

const s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/";

function blockXml(c: PublicAccessBlock): string {
  const fields = (["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"] as const)
    .map((k) => `<${k}>${c[k]}</${k}>`).join("");
  return `<PublicAccessBlockConfiguration xmlns="${s3Namespace}">${fields}</PublicAccessBlockConfiguration>`;
}

/** A public access block from its XML answer (the bucket's and the account's have the same fields). Pure. */
export function parseBlock(text: string): PublicAccessBlock {
  const root = parseXml(text);
  const flag = (name: string) => findElement(root, name)?.text.trim() === "true";
  return {
    BlockPublicAcls: flag("BlockPublicAcls"),
    IgnorePublicAcls: flag("IgnorePublicAcls"),
    BlockPublicPolicy: flag("BlockPublicPolicy"),
    RestrictPublicBuckets: flag("RestrictPublicBuckets"),
  };
}

function findElement(el: XmlElement, name: string): XmlElement | undefined {
  if (el.name === name) return el;
  for (const c of el.children) {
    const found = findElement(c, name);
    if (found) return found;
  }
  return undefined;
}

/** The tags of a GetBucketTagging answer. Pure. */
export function parseTagging(text: string): Record<string, string> {
  const tagSet = findElement(parseXml(text), "TagSet");
  return Object.fromEntries(
    (tagSet?.children ?? []).filter((t) => t.name === "Tag").map((t) => [
      childNamed(t, "Key")?.text ?? "",
      childNamed(t, "Value")?.text ?? "",
    ]),
  );
}

/** The implementation on our S3 REST client (s3_client.ts). */
export function s3Port(clients: AwsClients): S3Port {
  const client = (region: string) => clients.s3For(region);
  return {
    async accountPublicAccessBlock(account) {
      try {
        return parseBlock((await clients.s3control.getPublicAccessBlock(account)).text);
      } catch (e) {
        if (isNotFound(e, "NoSuchPublicAccessBlockConfiguration")) return undefined;
        throw awsError(e, "s3:GetAccountPublicAccessBlock", `account ${account}`);
      }
    },

    async observeBucket(bucket, { account, region, keys }) {
      const c = await client(region);
      const owner = { bucket, headers: { "x-amz-expected-bucket-owner": account } };
      try {
        await c.send("HeadBucket", { ...owner, method: "HEAD" });
      } catch (e) {
        if (sdkErrorCode(e).status === 404) return { exists: false };
        throw headBucketError(e, { bucket, account, region });
      }
      const get = async (operation: string, request: Omit<S3Request, "method" | "bucket">, missing: string[]) => {
        try {
          return (await c.send(operation, { ...owner, ...request, method: "GET" })).text;
        } catch (e) {
          if (isNotFound(e, ...missing)) return undefined;
          throw awsError(e, `s3:${operation}`, bucket);
        }
      };
      const location = await get("GetBucketLocation", { query: { location: "" } }, []);
      const actualRegion = regionOfLocation(location === undefined ? undefined : parseXml(location).text.trim());
      if (actualRegion !== region) {
        throw new IrsaError(
          "invalid",
          "BucketRegionMismatch",
          `bucket "${bucket}" is in ${actualRegion}, not ${region}`,
          { remedies: [{ kind: "bucketRegion", region: actualRegion }, { kind: "bucket" }] },
        );
      }
      const tagging = await get("GetBucketTagging", { query: { tagging: "" } }, ["NoSuchTagSet", "NoSuchTagSetError"]);
      const block = await get("GetPublicAccessBlock", { query: { publicAccessBlock: "" } }, [
        "NoSuchPublicAccessBlockConfiguration",
      ]);
      const policy = await get("GetBucketPolicy", { query: { policy: "" } }, ["NoSuchBucketPolicy"]);
      const objects: Record<string, string | undefined> = {};
      for (const key of keys) objects[key] = await get("GetObject", { key }, ["NoSuchKey", "NotFound"]);
      return {
        exists: true,
        region: actualRegion,
        tags: tagging === undefined ? {} : parseTagging(tagging),
        publicAccessBlock: block === undefined ? undefined : parseBlock(block),
        policy,
        objects,
      };
    },

    async createBucket(bucket, { region }) {
      try {
        await (await client(region)).send("CreateBucket", {
          method: "PUT",
          bucket,
          headers: {
            "x-amz-object-ownership": "BucketOwnerEnforced",
            ...(region === "us-east-1" ? {} : { "content-type": "application/xml" }),
          },
          // us-east-1 rejects an explicit LocationConstraint; every other region requires its own.
          body: region === "us-east-1" ? "" : `<CreateBucketConfiguration xmlns="${s3Namespace}">` +
            `<LocationConstraint>${xmlEscape(region)}</LocationConstraint></CreateBucketConfiguration>`,
        });
      } catch (e) {
        const { code } = sdkErrorCode(e);
        if (code === "BucketAlreadyOwnedByYou") return;
        if (code === "BucketAlreadyExists") {
          throw new IrsaError(
            "conflict",
            "BucketNameTaken",
            `bucket name "${bucket}" is taken by another account`,
            { cause: e, remedies: [{ kind: "bucket" }] },
          );
        }
        throw awsError(e, "s3:CreateBucket", bucket);
      }
    },

    async putBucketTagging(bucket, { account, region, tags }) {
      const set = Object.entries(tags).map(([k, v]) =>
        `<Tag><Key>${xmlEscape(k)}</Key><Value>${xmlEscape(v)}</Value></Tag>`
      );
      await send(region, "PutBucketTagging", bucket, account, {
        method: "PUT",
        query: { tagging: "" },
        headers: { "content-type": "application/xml" },
        body: `<Tagging xmlns="${s3Namespace}"><TagSet>${set.join("")}</TagSet></Tagging>`,
        md5: true,
      });
    },

    async putPublicAccessBlock(bucket, { account, region, config }) {
      await send(region, "PutPublicAccessBlock", bucket, account, {
        method: "PUT",
        query: { publicAccessBlock: "" },
        headers: { "content-type": "application/xml" },
        body: blockXml(config),
        md5: true,
      });
    },

    async putBucketPolicy(bucket, { account, region, policy }) {
      await send(region, "PutBucketPolicy", bucket, account, {
        method: "PUT",
        query: { policy: "" },
        headers: { "content-type": "application/json" },
        body: policy,
        md5: true,
      });
    },

    async putObject(bucket, { account, region, key, body, contentType }) {
      await send(region, "PutObject", bucket, account, {
        method: "PUT",
        key,
        // STS caches discovery documents; a short max-age keeps key rotation prompt.
        headers: { "content-type": contentType, "cache-control": "max-age=300" },
        body,
      }, `${bucket}/${key}`);
    },

    async deleteBucket(bucket, { account, region }) {
      await sendIgnoringMissing(region, "DeleteBucket", bucket, account, { method: "DELETE" });
    },

    async deleteObject(bucket, { account, region, key }) {
      await sendIgnoringMissing(region, "DeleteObject", bucket, account, { method: "DELETE", key }, `${bucket}/${key}`);
    },
  };

  async function sendIgnoringMissing(
    region: string,
    operation: string,
    bucket: string,
    account: string,
    request: Omit<S3Request, "bucket">,
    target = bucket,
  ) {
    try {
      await send(region, operation, bucket, account, request, target);
    } catch (e) {
      if (!isNotFound((e as { cause?: unknown }).cause, "NoSuchBucket", "NoSuchKey", "NotFound")) throw e;
    }
  }

  async function send(
    region: string,
    operation: string,
    bucket: string,
    account: string,
    request: Omit<S3Request, "bucket">,
    target = bucket,
  ): Promise<void> {
    try {
      await (await client(region)).send(operation, {
        ...request,
        bucket,
        headers: { ...request.headers, "x-amz-expected-bucket-owner": account },
      });
    } catch (e) {
      throw awsError(e, `s3:${operation}`, target);
    }
  }
}
