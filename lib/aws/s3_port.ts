// S3 for the discovery bucket. Every bucket and object call carries ExpectedBucketOwner, so a bucket that
// another account owns (or registered after a delete) is never read from or written to.
import { IrsaError } from "../errors.ts";
import type { AwsClients } from "./clients.ts";
import { awsError, isNotFound, sdkErrorCode } from "./sdk_errors.ts";

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

/** The SDK implementation. */
export function s3Port(clients: AwsClients): S3Port {
  const sdk = () => import("@aws-sdk/client-s3");
  const client = (region: string) => clients.s3For(region);
  return {
    async accountPublicAccessBlock(account) {
      const { GetPublicAccessBlockCommand } = await import("@aws-sdk/client-s3-control");
      try {
        const out = await clients.s3control.send(new GetPublicAccessBlockCommand({ AccountId: account }));
        return normalizeBlock(out.PublicAccessBlockConfiguration);
      } catch (e) {
        if (isNotFound(e, "NoSuchPublicAccessBlockConfiguration")) return undefined;
        throw awsError(e, "s3:GetAccountPublicAccessBlock", `account ${account}`);
      }
    },

    async observeBucket(bucket, { account, region, keys }) {
      const s3 = await sdk();
      const c = await client(region);
      const owner = { Bucket: bucket, ExpectedBucketOwner: account };
      try {
        await c.send(new s3.HeadBucketCommand(owner));
      } catch (e) {
        if (sdkErrorCode(e).status === 404) return { exists: false };
        throw headBucketError(e, { bucket, account, region });
      }
      const wrap = async <T>(operation: string, fn: () => Promise<T>, missing: string[]): Promise<T | undefined> => {
        try {
          return await fn();
        } catch (e) {
          if (isNotFound(e, ...missing)) return undefined;
          throw awsError(e, operation, bucket);
        }
      };
      const location = await wrap("s3:GetBucketLocation", () => c.send(new s3.GetBucketLocationCommand(owner)), []);
      const actualRegion = regionOfLocation(location?.LocationConstraint);
      if (actualRegion !== region) {
        throw new IrsaError(
          "invalid",
          "BucketRegionMismatch",
          `bucket "${bucket}" is in ${actualRegion}, not ${region}`,
          { remedies: [{ kind: "bucketRegion", region: actualRegion }, { kind: "bucket" }] },
        );
      }
      const tagging = await wrap("s3:GetBucketTagging", () => c.send(new s3.GetBucketTaggingCommand(owner)), [
        "NoSuchTagSet",
        "NoSuchTagSetError",
      ]);
      const block = await wrap("s3:GetPublicAccessBlock", () => c.send(new s3.GetPublicAccessBlockCommand(owner)), [
        "NoSuchPublicAccessBlockConfiguration",
      ]);
      const policy = await wrap("s3:GetBucketPolicy", () => c.send(new s3.GetBucketPolicyCommand(owner)), [
        "NoSuchBucketPolicy",
      ]);
      const objects: Record<string, string | undefined> = {};
      for (const key of keys) {
        const out = await wrap(
          "s3:GetObject",
          () => c.send(new s3.GetObjectCommand({ ...owner, Key: key })),
          ["NoSuchKey", "NotFound"],
        );
        objects[key] = await out?.Body?.transformToString();
      }
      return {
        exists: true,
        region: actualRegion,
        tags: Object.fromEntries((tagging?.TagSet ?? []).map((t) => [t.Key ?? "", t.Value ?? ""])),
        publicAccessBlock: normalizeBlock(block?.PublicAccessBlockConfiguration),
        policy: policy?.Policy,
        objects,
      };
    },

    async createBucket(bucket, { region }) {
      const s3 = await sdk();
      try {
        await (await client(region)).send(
          new s3.CreateBucketCommand({
            Bucket: bucket,
            // us-east-1 rejects an explicit LocationConstraint; every other region requires its own.
            ...(region === "us-east-1" ? {} : { CreateBucketConfiguration: { LocationConstraint: region as never } }),
            ObjectOwnership: "BucketOwnerEnforced",
          }),
        );
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
      const s3 = await sdk();
      await send(
        region,
        "s3:PutBucketTagging",
        bucket,
        new s3.PutBucketTaggingCommand({
          Bucket: bucket,
          ExpectedBucketOwner: account,
          Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
        }),
      );
    },

    async putPublicAccessBlock(bucket, { account, region, config }) {
      const s3 = await sdk();
      await send(
        region,
        "s3:PutPublicAccessBlock",
        bucket,
        new s3.PutPublicAccessBlockCommand({
          Bucket: bucket,
          ExpectedBucketOwner: account,
          PublicAccessBlockConfiguration: config,
        }),
      );
    },

    async putBucketPolicy(bucket, { account, region, policy }) {
      const s3 = await sdk();
      await send(
        region,
        "s3:PutBucketPolicy",
        bucket,
        new s3.PutBucketPolicyCommand({
          Bucket: bucket,
          ExpectedBucketOwner: account,
          Policy: policy,
        }),
      );
    },

    async putObject(bucket, { account, region, key, body, contentType }) {
      const s3 = await sdk();
      await send(
        region,
        "s3:PutObject",
        `${bucket}/${key}`,
        new s3.PutObjectCommand({
          Bucket: bucket,
          ExpectedBucketOwner: account,
          Key: key,
          Body: body,
          ContentType: contentType,
          // STS caches discovery documents; a short max-age keeps key rotation prompt.
          CacheControl: "max-age=300",
        }),
      );
    },

    async deleteBucket(bucket, { account, region }) {
      const s3 = await sdk();
      await sendIgnoringMissing(
        region,
        "s3:DeleteBucket",
        bucket,
        new s3.DeleteBucketCommand({ Bucket: bucket, ExpectedBucketOwner: account }),
      );
    },

    async deleteObject(bucket, { account, region, key }) {
      const s3 = await sdk();
      await sendIgnoringMissing(
        region,
        "s3:DeleteObject",
        `${bucket}/${key}`,
        new s3.DeleteObjectCommand({
          Bucket: bucket,
          ExpectedBucketOwner: account,
          Key: key,
        }),
      );
    },
  };

  async function sendIgnoringMissing(region: string, operation: string, target: string, command: unknown) {
    try {
      await send(region, operation, target, command);
    } catch (e) {
      if (!isNotFound((e as { cause?: unknown }).cause, "NoSuchBucket", "NoSuchKey", "NotFound")) throw e;
    }
  }

  async function send(region: string, operation: string, target: string, command: unknown): Promise<void> {
    try {
      // deno-lint-ignore no-explicit-any
      await (await client(region)).send(command as any);
    } catch (e) {
      throw awsError(e, operation, target);
    }
  }
}

function normalizeBlock(
  c: Partial<Record<keyof PublicAccessBlock, boolean | undefined>> | undefined,
): PublicAccessBlock | undefined {
  if (!c) return undefined;
  return {
    BlockPublicAcls: c.BlockPublicAcls ?? false,
    IgnorePublicAcls: c.IgnorePublicAcls ?? false,
    BlockPublicPolicy: c.BlockPublicPolicy ?? false,
    RestrictPublicBuckets: c.RestrictPublicBuckets ?? false,
  };
}
