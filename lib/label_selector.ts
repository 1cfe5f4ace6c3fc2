// Kubernetes label selectors (metav1.LabelSelector), evaluated the way the apiserver does for a webhook's
// namespaceSelector and objectSelector. Pure.

/** One requirement of `matchExpressions`. */
export interface LabelSelectorRequirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  values?: string[];
}

/** A label selector; an empty one selects everything. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

function meets(r: LabelSelectorRequirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, r.key);
  switch (r.operator) {
    case "In":
      return has && (r.values ?? []).includes(labels[r.key]!);
    case "NotIn":
      return !has || !(r.values ?? []).includes(labels[r.key]!);
    case "Exists":
      return has;
    case "DoesNotExist":
      return !has;
    default:
      // An operator the apiserver would have refused: select nothing rather than guess.
      return false;
  }
}

/** True when `labels` satisfy every part of `selector` (undefined selects everything). */
export function matchesLabelSelector(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  const exact = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  return exact && (selector.matchExpressions ?? []).every((r) => meets(r, labels));
}
