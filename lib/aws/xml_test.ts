import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { decodeEntities, listOf, parseXml, textOf, XmlError, xmlValue } from "./xml.ts";

const getRole = `<?xml version="1.0" encoding="UTF-8"?>
<GetRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <GetRoleResult>
    <Role>
      <Path>/irsa/</Path>
      <AssumeRolePolicyDocument>%7B%22Version%22%3A%222012-10-17%22%7D</AssumeRolePolicyDocument>
      <MaxSessionDuration>3600</MaxSessionDuration>
      <Tags>
        <member><Key>managed-by</Key><Value>kubectl-irsa &amp; friends</Value></member>
      </Tags>
      <RoleName>app</RoleName>
      <Description></Description>
    </Role>
  </GetRoleResult>
  <ResponseMetadata><RequestId>4a9</RequestId></ResponseMetadata>
</GetRoleResponse>`;

Deno.test("xmlValue reads IAM's answer in the SDK's shape: lists from member, text decoded", () => {
  const root = parseXml(getRole);
  equal(root.name, "GetRoleResponse");
  const result = xmlValue(root.children[0]!);
  deepStrictEqual(result, {
    Role: {
      Path: "/irsa/",
      AssumeRolePolicyDocument: "%7B%22Version%22%3A%222012-10-17%22%7D",
      MaxSessionDuration: "3600",
      Tags: [{ Key: "managed-by", Value: "kubectl-irsa & friends" }],
      RoleName: "app",
      Description: "",
    },
  });
});

Deno.test("an empty list reads as [] through listOf, and a missing field as undefined", () => {
  const value = xmlValue(parseXml("<R><PolicyNames/><IsTruncated>false</IsTruncated></R>"));
  deepStrictEqual(listOf((value as Record<string, never>).PolicyNames), []);
  equal(textOf(value, "Marker"), undefined);
  equal(textOf(value, "IsTruncated"), "false");
});

Deno.test("parseXml takes prefixes, CDATA, comments and self-closing tags", () => {
  const root = parseXml(`<a:Doc xmlns:a="x"><!-- c --><a:T><![CDATA[<raw>&amp;]]></a:T><E attr='1'/></a:Doc>`);
  equal(root.name, "Doc");
  equal(root.children[0]!.text, "<raw>&amp;");
  equal(root.children[1]!.name, "E");
});

Deno.test("decodeEntities decodes named and numeric references and leaves unknown ones", () => {
  equal(decodeEntities("&lt;&gt;&quot;&apos;&amp;&#65;&#x42;&nbsp;"), `<>"'&AB&nbsp;`);
});

Deno.test("parseXml rejects what it cannot read", async (t) => {
  for (
    const [name, text] of [
      ["mismatched tags", "<a><b></a></b>"],
      ["an unclosed element", "<a><b></b>"],
      ["no element", "just text"],
      ["two roots", "<a/><b/>"],
      ["a stray close", "</a>"],
    ]
  ) {
    await t.step(name!, () => throws(() => parseXml(text!), XmlError));
  }
});
