// Disagreement classes triaged as iam-simulate's error (or as a point the AWS
// documentation leaves open), one predicate per entry of
// known_differences.json.
//
// Each class recognises itself by a counterfactual: it rewrites the case so
// that iam-simulate is told what irsa's reading of the documentation means
// (give the root an allow-all policy, spell a plain operator with its set
// operator, …); iam-simulate runs again, and the class claims the disagreement
// only if iam-simulate then gives irsa's decision. A disagreement with any
// other cause stays unexplained and fails the run.

import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
export const KNOWN = JSON.parse(readFileSync(join(here, 'known_differences.json'), 'utf8'))

const clone = (c) => JSON.parse(JSON.stringify(c))

function policies(c) {
  return [...c.identity, c.resource, c.boundary, c.session].filter(Boolean)
}

function statements(doc) {
  return Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement]
}

function contextValue(c, key) {
  const hit = Object.keys(c.context).find((k) => k.toLowerCase() === key.toLowerCase())
  return hit === undefined ? undefined : c.context[hit]
}

// Rewrites condition operators in every policy of a case; `rewrite(op, key)`
// returns the new operator, `null` to drop the key, or `op` to keep it.
function rewriteConditions(c, rewrite) {
  let changed = false
  for (const doc of policies(c)) {
    for (const st of statements(doc)) {
      if (!st.Condition) continue
      const next = {}
      for (const [op, block] of Object.entries(st.Condition)) {
        for (const [key, values] of Object.entries(block)) {
          const to = rewrite(op, key)
          if (to !== op) changed = true
          if (to === null) continue
          next[to] = { ...(next[to] || {}), [key]: values }
        }
      }
      if (Object.keys(next).length === 0) delete st.Condition
      else st.Condition = next
    }
  }
  return changed
}

const PREDICATES = {
  // The account root holds every permission of its own account; it has no
  // identity-based policies. Tell iam-simulate so with an allow-all identity
  // policy.
  'root-has-account-permissions': (c, { ours }) => {
    if (!c.principal.endsWith(':root') || ours !== 'Allow' || c.identity.length > 0) return null
    const d = clone(c)
    d.identity = [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }]
    return d
  },

  // A role trust policy that names the caller does not lift the caller's
  // permissions boundary: it must allow sts:AssumeRole.
  // Not a rewrite: iam-simulate cannot be told to apply the boundary, so this
  // class only claims a case on its own, when iam-simulate itself reports
  // that the boundary does not allow.
  'trust-policy-does-not-bypass-boundary': (c, { ours, theirs }) => {
    const claimed =
      c.action.toLowerCase().startsWith('sts:assumerole') &&
      c.boundary !== null &&
      ours === 'ImplicitDeny' &&
      theirs.decision === 'Allow' &&
      theirs.analysis?.permissionBoundaryAnalysis?.result === 'ImplicitlyDenied'
    return claimed ? CLAIMED : null
  },

  // `ForAnyValue:…IfExists` on a key the request lacks: IfExists makes the
  // condition true. Drop those conditions and iam-simulate agrees.
  'foranyvalue-ifexists-missing-key': (c) => {
    const d = clone(c)
    const changed = rewriteConditions(d, (op, key) =>
      op.startsWith('ForAnyValue:') && op.endsWith('IfExists') && contextValue(c, key) === undefined
        ? null
        : op
    )
    return changed ? d : null
  },

  // A plain (no set operator) condition on a multivalued key. irsa reads a
  // positive operator as "some value matches" and a negated one as "no value
  // matches"; spelled with set operators, iam-simulate agrees.
  'plain-operator-on-multivalued-key': (c) => {
    const d = clone(c)
    const changed = rewriteConditions(d, (op, key) => {
      if (op.includes(':') || op === 'Null' || !Array.isArray(contextValue(c, key))) return op
      const negated = /Not/.test(op)
      return `${negated ? 'ForAllValues' : 'ForAnyValue'}:${op}`
    })
    return changed ? d : null
  },

  // `Null` on a multivalued key whose set is empty: AWS treats "context keys
  // with empty values" like missing ones (`Null: false` guards against both),
  // so `Null: true` holds and `Null: false` fails. iam-simulate only looks at
  // presence. Remove the empty keys from the context and iam-simulate agrees.
  'null-operator-on-empty-set': (c) => {
    const empty = Object.keys(c.context).filter(
      (k) => Array.isArray(c.context[k]) && c.context[k].length === 0
    )
    const tested = policies(c).some((doc) =>
      statements(doc).some((st) =>
        Object.keys(st.Condition?.Null ?? {}).some((k) => empty.some((e) => e.toLowerCase() === k.toLowerCase()))
      )
    )
    if (!tested) return null
    const d = clone(c)
    for (const k of empty) delete d.context[k]
    return d
  },

  // A policy variable whose key the request lacks is "effectively null": it
  // equals and is like nothing, so negated operators (StringNotEquals,
  // ArnNotLike, …) and NotResource hold against it. iam-simulate makes every
  // comparison with it fail. Replace such variables by text that matches
  // nothing and iam-simulate agrees.
  'null-variable-in-negated-match': (c) => {
    const { case: d, changed } = nullVariables(c)
    return changed ? d : null
  },

  // A resource-based policy that names the session itself (its ARN, or `*`)
  // grants after the session is created: the session policy does not limit
  // it. iam-simulate requires the session policy to allow in every case.
  'session-policy-does-not-limit-direct-grant': (c, { ours, theirs }) => {
    const a = theirs.analysis
    if (!c.session || ours !== 'Allow' || a?.sessionAnalysis?.result !== 'ImplicitlyDenied') return null
    if (!a.resourceAnalysis?.allowStatements?.some((s) => s.principalMatch === 'Match')) return null
    const d = clone(c)
    d.session = null
    return d
  },

  // `NotPrincipal` in a Deny excludes a caller only when every identity of its
  // chain is listed (account, then user; account, role, then session).
  // iam-simulate excludes on any one of them. Replace each NotPrincipal Deny
  // that does not list the caller's whole chain by a Deny to everyone.
  'notprincipal-needs-whole-chain': (c) => {
    if (!c.resource) return null
    const d = clone(c)
    const chain = callerChain(c.principal)
    let changed = false
    for (const st of statements(d.resource)) {
      if (!st.NotPrincipal || st.Effect !== 'Deny') continue
      const listed = [st.NotPrincipal.AWS ?? []].flat()
      const excluded = chain.every((names) => names.some((n) => listed.includes(n)))
      if (!excluded) {
        delete st.NotPrincipal
        st.Principal = '*'
        changed = true
      }
    }
    return changed ? d : null
  }
}

// Returned by a class that claims a case without a rewrite.
const CLAIMED = Symbol('claimed')

// Replaces, in every policy, each `${key}` (without a default) whose key the
// request lacks by text that matches nothing in generated requests.
function nullVariables(c) {
  let changed = false
  const walk = (v) => {
    if (typeof v === 'string') {
      return v.replace(/\$\{([^},]+)\}/g, (whole, key) => {
        if (['*', '?', '$'].includes(key) || contextValue(c, key.trim()) !== undefined) return whole
        changed = true
        return '#null#'
      })
    }
    if (Array.isArray(v)) return v.map(walk)
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]))
    }
    return v
  }
  const d = clone(c)
  d.identity = d.identity.map(walk)
  for (const k of ['resource', 'boundary', 'session']) if (d[k]) d[k] = walk(d[k])
  return { case: d, changed }
}

// For each identity in the caller's chain, the Principal values that name it.
function callerChain(arn) {
  const [, , , , account, rest] = arn.split(':')
  const accountNames = [account, `arn:aws:iam::${account}:root`]
  if (rest === 'root') return [accountNames]
  if (rest.startsWith('assumed-role/')) {
    const role = rest.split('/')[1]
    return [accountNames, [`arn:aws:iam::${account}:role/${role}`], [arn]]
  }
  return [accountNames, [arn]]
}

// The known class that explains a disagreement (`a+b` when it takes two or
// more classes together), or null. Each class is tried alone on the case;
// then the rewrites are applied one after another, each to the result of the
// last, re-running iam-simulate after each.
export async function classify(c, { ours, theirs, simulate }) {
  const decision = ours.decision
  if (decision === undefined || theirs.decision === undefined) return null
  const attempt = async (entry, current, currentTheirs) => {
    const transform = PREDICATES[entry.id]
    if (!transform) throw new Error(`known_differences.json: no predicate for ${entry.id}`)
    return transform(current, { ours: decision, theirs: currentTheirs })
  }
  for (const entry of KNOWN) {
    const d = await attempt(entry, c, theirs)
    if (d === CLAIMED) return entry.id
    if (d && (await simulate(d)).decision === decision) return entry.id
  }
  let current = c
  let currentTheirs = theirs
  const applied = []
  for (const entry of KNOWN) {
    const d = await attempt(entry, current, currentTheirs)
    if (!d || d === CLAIMED) continue
    current = d
    currentTheirs = await simulate(current)
    applied.push(entry.id)
    if (applied.length > 1 && currentTheirs.decision === decision) return applied.join('+')
  }
  return null
}
