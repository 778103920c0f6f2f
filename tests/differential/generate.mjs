// Generates differential test cases for irsa's policy engine and
// @cloud-copilot/iam-simulate: one JSON case per line on stdout.
//
//   node generate.mjs --seed 1 --count 2000 > cases.jsonl
//
// The same seed and count always give the same cases (mulberry32 PRNG).
// A case is:
//   {id, identity: [doc], resource: doc|null, boundary: doc|null,
//    session: doc|null, principal, action, resource_arn, resource_account,
//    context: {key: string | [string]}}
// Only what both engines support is generated; README.md lists what is left
// out and why.

export const A = '111111111111' // the caller's account
export const B = '222222222222' // another account

// === PRNG ===

export function mulberry32(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

class Rng {
  constructor(seed) {
    this.next = mulberry32(seed)
  }
  chance(p) {
    return this.next() < p
  }
  int(lo, hi) {
    return lo + Math.floor(this.next() * (hi - lo + 1))
  }
  pick(list) {
    return list[Math.floor(this.next() * list.length)]
  }
  some(list, lo, hi) {
    const n = this.int(lo, Math.min(hi, list.length))
    const pool = [...list]
    const out = []
    for (let i = 0; i < n; i++) out.push(pool.splice(Math.floor(this.next() * pool.length), 1)[0])
    return out
  }
}

// === Vocabulary ===

// Callers. Root is rare: it has no identity-based policies of its own.
const PRINCIPALS = [
  { arn: `arn:aws:iam::${A}:user/alice`, kind: 'user', name: 'alice', w: 3 },
  { arn: `arn:aws:iam::${A}:user/bob`, kind: 'user', name: 'bob', w: 2 },
  { arn: `arn:aws:sts::${A}:assumed-role/app/s1`, kind: 'role', role: 'app', w: 3 },
  { arn: `arn:aws:sts::${A}:assumed-role/ops/s2`, kind: 'role', role: 'ops', w: 1 },
  { arn: `arn:aws:iam::${A}:root`, kind: 'root', w: 0.3 }
]

// Request actions, each with the resources it acts on (given the owning account).
const ACTIONS = [
  { action: 's3:GetObject', arns: () => S3_OBJECTS, s3: true },
  { action: 's3:PutObject', arns: () => S3_OBJECTS, s3: true },
  { action: 's3:DeleteObject', arns: () => S3_OBJECTS, s3: true },
  { action: 's3:ListBucket', arns: () => S3_BUCKETS, s3: true },
  { action: 's3:GetBucketPolicy', arns: () => S3_BUCKETS, s3: true },
  { action: 'iam:GetUser', arns: (acct) => [`arn:aws:iam::${acct}:user/alice`, `arn:aws:iam::${acct}:user/bob`, `arn:aws:iam::${acct}:user/team/carol`] },
  { action: 'iam:PassRole', arns: (acct) => [`arn:aws:iam::${acct}:role/app`, `arn:aws:iam::${acct}:role/ops`] },
  { action: 'iam:ListUsers', arns: () => ['*'] },
  { action: 'ec2:TerminateInstances', arns: (acct) => [`arn:aws:ec2:us-east-1:${acct}:instance/i-0123`, `arn:aws:ec2:eu-west-1:${acct}:instance/i-9999`] },
  { action: 'ec2:StartInstances', arns: (acct) => [`arn:aws:ec2:us-east-1:${acct}:instance/i-0123`] },
  { action: 'ec2:DescribeInstances', arns: () => ['*'] },
  { action: 'sts:AssumeRole', arns: (acct) => [`arn:aws:iam::${acct}:role/app`, `arn:aws:iam::${acct}:role/deploy`], trust: true }
]

const S3_BUCKETS = ['arn:aws:s3:::examplebucket', 'arn:aws:s3:::logs-bucket', 'arn:aws:s3:::Mixed-Case']
const S3_OBJECTS = [
  'arn:aws:s3:::examplebucket/home/alice/notes.txt',
  'arn:aws:s3:::examplebucket/home/bob/a.txt',
  'arn:aws:s3:::examplebucket/public/index.html',
  'arn:aws:s3:::logs-bucket/2026/12/02/app.log',
  'arn:aws:s3:::Mixed-Case/Key.TXT'
]

// Action patterns for Action / NotAction: wildcards, `?`, and case variants.
const ACTION_PATTERNS = [
  '*', 's3:*', 's3:Get*', 's3:*Object', 's3:GetObject', 's3:getobject', 's3:Put*', 's3:ListBucket',
  's3:GetObjec?', 's3:Delete*', 'iam:*', 'iam:Get*', 'iam:PassRole', 'iam:List*', 'ec2:*Instances',
  'ec2:Describe*', 'ec2:TerminateInstances', 'ec2:*', 'sts:AssumeRole', 'sts:*', 'S3:GetBucket*'
]

// Resource patterns for Resource / NotResource: wildcards, `?`, variables.
const RESOURCE_PATTERNS = [
  '*',
  'arn:aws:s3:::examplebucket',
  'arn:aws:s3:::examplebucket/*',
  'arn:aws:s3:::examplebucket/home/${aws:username}/*',
  'arn:aws:s3:::examplebucket/public/*',
  'arn:aws:s3:::*bucket*',
  'arn:aws:s3:::logs-bucke?/*',
  'arn:aws:s3:::logs-bucket/*/12/*',
  'arn:aws:s3:::mixed-case/*',
  'arn:aws:s3:::Mixed-Case/*',
  'arn:aws:s3:::*',
  `arn:aws:iam::${A}:user/\${aws:username}`,
  `arn:aws:iam::${A}:user/*`,
  'arn:aws:iam::*:user/team/*',
  `arn:aws:iam::${A}:role/*`,
  'arn:aws:iam::*:role/app',
  `arn:aws:iam::${B}:role/*`,
  `arn:aws:ec2:*:${A}:instance/*`,
  'arn:aws:ec2:us-east-1:*:instance/i-01*',
  'arn:aws:ec2:*:*:instance/i-????',
  'arn:aws:ec2:eu-west-1:*:*',
  'arn:aws:s3:::examplebucket/home/${aws:PrincipalTag/team}/*'
]

// Condition keys (all global keys, which iam-simulate accepts for every
// action), their value type, request values and policy values.
const DATES = ['2026-12-02T10:00:00Z', '2025-06-01T00:00:00Z', '2027-01-01T00:00:00Z']
const KEYS = [
  {
    key: 'aws:SourceIp', type: 'ip',
    request: ['10.0.0.1', '10.1.2.3', '192.168.1.10', '203.0.113.5', '2001:db8::1'],
    policy: ['10.0.0.0/8', '192.168.0.0/16', '203.0.113.5/32', '203.0.113.0/24', '2001:db8::/32']
  },
  { key: 'aws:SecureTransport', type: 'bool', request: ['true', 'false'], policy: ['true', 'false'] },
  { key: 'aws:MultiFactorAuthPresent', type: 'bool', request: ['true', 'false'], policy: ['true', 'false'] },
  {
    key: 'aws:CurrentTime', type: 'date',
    request: DATES,
    policy: ['2026-12-02T10:00:00Z', '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z', '2026-12-02']
  },
  {
    key: 'aws:EpochTime', type: 'date',
    request: ['1796205600', '1748736000', '1798761600'],
    policy: ['1796205600', '1767225600', '1798761600']
  },
  {
    key: 'aws:MultiFactorAuthAge', type: 'number',
    request: ['0', '300', '3600', '86400'],
    policy: ['3600', '300', '0', '86400', '1800.5']
  },
  {
    key: 'aws:PrincipalTag/team', type: 'string',
    request: ['dev', 'ops', 'Dev'],
    policy: ['dev', 'ops', 'DEV', 'd*', '?ev', '${aws:username}']
  },
  {
    key: 'aws:RequestedRegion', type: 'string',
    request: ['us-east-1', 'eu-west-1', 'us-west-2'],
    policy: ['us-east-1', 'eu-west-1', 'us-*', 'eu-west-?', 'US-EAST-1', '*']
  },
  {
    key: 'aws:username', type: 'string', derived: true,
    policy: ['alice', 'bob', 'Alice', 'a*', '${aws:PrincipalTag/team}', "${aws:PrincipalTag/team, 'alice'}"]
  },
  {
    key: 'aws:PrincipalArn', type: 'arn', derived: true,
    policy: [
      `arn:aws:iam::${A}:user/alice`, `arn:aws:iam::${A}:role/app`, `arn:aws:iam::${A}:user/*`,
      `arn:aws:iam::*:role/*`, `arn:aws:iam::${A}:user/\${aws:username}`, `arn:aws:iam::${B}:*`
    ]
  },
  {
    key: 'aws:SourceArn', type: 'arn',
    request: [`arn:aws:sns:us-east-1:${A}:topic-a`, `arn:aws:lambda:eu-west-1:${B}:function:f`],
    policy: [`arn:aws:sns:us-east-1:${A}:topic-a`, 'arn:aws:sns:*:*:topic-*', `arn:aws:lambda:*:${B}:function:*`, 'arn:aws:*:*:*:*']
  },
  {
    key: 'aws:UserAgent', type: 'binary',
    request: ['QmluYXJ5VmFsdWU=', 'b3RoZXI='],
    policy: ['QmluYXJ5VmFsdWU=', 'b3RoZXI=']
  },
  {
    key: 'aws:TagKeys', type: 'string', multi: true,
    request: ['env', 'team', 'cost-center'],
    policy: ['env', 'team', 'cost-*', 'Env']
  },
  {
    key: 'aws:CalledVia', type: 'string', multi: true,
    request: ['athena.amazonaws.com', 'cloudformation.amazonaws.com'],
    policy: ['athena.amazonaws.com', '*.amazonaws.com', 'cloudformation.amazonaws.com']
  }
]

const OPERATORS = {
  string: [
    'StringEquals', 'StringNotEquals', 'StringEqualsIgnoreCase', 'StringNotEqualsIgnoreCase',
    'StringLike', 'StringNotLike'
  ],
  number: [
    'NumericEquals', 'NumericNotEquals', 'NumericLessThan', 'NumericLessThanEquals',
    'NumericGreaterThan', 'NumericGreaterThanEquals'
  ],
  date: ['DateEquals', 'DateNotEquals', 'DateLessThan', 'DateLessThanEquals', 'DateGreaterThan', 'DateGreaterThanEquals'],
  bool: ['Bool'],
  binary: ['BinaryEquals'],
  ip: ['IpAddress', 'NotIpAddress'],
  arn: ['ArnEquals', 'ArnLike', 'ArnNotEquals', 'ArnNotLike', 'StringLike', 'StringEquals']
}

// === Generation ===

function condition(rng) {
  const out = {}
  const n = rng.int(1, 2)
  for (let i = 0; i < n; i++) {
    if (rng.chance(0.07)) {
      const k = rng.pick(KEYS)
      out['Null'] = { ...(out['Null'] || {}), [k.key]: rng.pick(['true', 'false']) }
      continue
    }
    const k = rng.pick(KEYS)
    let op = rng.pick(OPERATORS[k.type])
    if (k.multi) {
      // Set operators belong to multivalued keys; a few cases test a plain
      // operator on one anyway.
      if (!rng.chance(0.1)) op = `${rng.pick(['ForAllValues', 'ForAnyValue'])}:${op}`
    } else if (rng.chance(0.08)) {
      op = `${rng.pick(['ForAllValues', 'ForAnyValue'])}:${op}`
    }
    if (rng.chance(0.3)) op += 'IfExists'
    const values = rng.some(k.policy, 1, 2)
    const block = out[op] || {}
    block[k.key] = values.length === 1 && rng.chance(0.5) ? values[0] : values
    out[op] = block
  }
  return out
}

function statement(rng, { effect, principal, trust }, sid) {
  const st = { Effect: effect ?? (rng.chance(0.7) ? 'Allow' : 'Deny') }
  if (sid && rng.chance(0.3)) st.Sid = sid
  if (principal) {
    // NotPrincipal is only supported with Deny, and not in trust policies
    // (reference_policies_elements_notprincipal.html).
    const p = principal(rng)
    if (p.not && st.Effect === 'Deny' && !trust) st.NotPrincipal = p.value
    else st.Principal = p.value
  }
  const actions = rng.some(ACTION_PATTERNS, 1, 3)
  const actionValue = actions.length === 1 && rng.chance(0.5) ? actions[0] : actions
  if (rng.chance(0.15)) st.NotAction = actionValue
  else st.Action = actionValue
  if (!trust) {
    const resources = rng.some(RESOURCE_PATTERNS, 1, 3)
    const resourceValue = resources.length === 1 && rng.chance(0.5) ? resources[0] : resources
    if (rng.chance(0.15)) st.NotResource = resourceValue
    else st.Resource = resourceValue
  }
  if (rng.chance(0.45)) st.Condition = condition(rng)
  return st
}

function policy(rng, opts = {}) {
  const n = rng.int(1, opts.max ?? 3)
  const statements = []
  for (let i = 0; i < n; i++) statements.push(statement(rng, opts, `S${i}`))
  return { Version: '2012-10-17', Statement: statements }
}

// Ensures at least one statement could allow the request (else most cases are
// trivially implicit denies).
function withAllowFor(rng, doc, action, resourceArn, opts = {}) {
  if (rng.chance(0.7)) {
    const st = { Effect: 'Allow', Action: action }
    if (opts.principal) st.Principal = opts.principal(rng).value
    if (!opts.trust) st.Resource = rng.chance(0.5) ? resourceArn : '*'
    if (rng.chance(0.35)) st.Condition = condition(rng)
    doc.Statement.push(st)
  }
  return doc
}

function resourcePrincipal(rng) {
  const value = rng.pick([
    '*',
    { AWS: A },
    { AWS: `arn:aws:iam::${A}:root` },
    { AWS: B },
    { AWS: `arn:aws:iam::${A}:user/alice` },
    { AWS: `arn:aws:iam::${A}:role/app` },
    { AWS: `arn:aws:sts::${A}:assumed-role/app/s1` },
    { AWS: [`arn:aws:iam::${A}:user/bob`, `arn:aws:iam::${B}:root`] },
    { AWS: '*' }
  ])
  return { value, not: false }
}

function principalOrNot(rng) {
  if (rng.chance(0.25)) {
    return { value: { AWS: rng.pick([`arn:aws:iam::${A}:user/alice`, `arn:aws:iam::${A}:role/app`, A]) }, not: true }
  }
  return resourcePrincipal(rng)
}

function weighted(rng, list) {
  const total = list.reduce((s, x) => s + x.w, 0)
  let r = rng.next() * total
  for (const x of list) {
    r -= x.w
    if (r < 0) return x
  }
  return list[list.length - 1]
}

function requestContext(rng, who) {
  const ctx = {}
  // Keys AWS derives from the caller: always present, consistent with it.
  if (who.kind === 'user') ctx['aws:username'] = who.name
  ctx['aws:PrincipalArn'] =
    who.kind === 'role' ? `arn:aws:iam::${A}:role/${who.role}` : who.arn
  ctx['aws:PrincipalAccount'] = A
  for (const k of KEYS) {
    if (k.derived || !rng.chance(0.55)) continue
    if (k.multi) ctx[k.key] = rng.some(k.request, rng.chance(0.1) ? 0 : 1, 3)
    else ctx[k.key] = rng.pick(k.request)
  }
  return ctx
}

export function generate(seed, count) {
  const rng = new Rng(seed)
  const cases = []
  for (let i = 0; i < count; i++) {
    const who = weighted(rng, PRINCIPALS)
    const spec = rng.pick(ACTIONS)
    const crossAccount = rng.chance(0.3)
    const owner = crossAccount ? B : A
    const resourceArn = rng.pick(spec.arns(owner))
    const c = {
      id: `${seed}-${i}`,
      identity: [],
      resource: null,
      boundary: null,
      session: null,
      principal: who.arn,
      action: spec.action,
      resource_arn: resourceArn,
      resource_account: owner,
      context: requestContext(rng, who)
    }
    if (who.kind !== 'root') {
      const n = rng.int(0, 2)
      for (let j = 0; j < n; j++) c.identity.push(policy(rng))
      if (c.identity.length > 0) withAllowFor(rng, c.identity[0], spec.action, resourceArn)
      if (rng.chance(0.25)) c.boundary = withAllowFor(rng, policy(rng, { max: 2 }), spec.action, resourceArn)
      if (who.kind === 'role' && rng.chance(0.2)) {
        c.session = withAllowFor(rng, policy(rng, { max: 2 }), spec.action, resourceArn)
      }
    }
    if (spec.trust) {
      // A role always has a trust policy; it has no Resource element.
      c.resource = withAllowFor(
        rng,
        policy(rng, { principal: principalOrNot, trust: true, max: 2 }),
        spec.action,
        resourceArn,
        { principal: resourcePrincipal, trust: true }
      )
    } else if (spec.s3 && rng.chance(0.5)) {
      c.resource = withAllowFor(
        rng,
        policy(rng, { principal: principalOrNot, max: 3 }),
        spec.action,
        resourceArn,
        { principal: resourcePrincipal }
      )
    }
    cases.push(c)
  }
  return cases
}

export function parseArgs(argv) {
  const args = { seed: 1, count: 100 }
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i].split('=')
    const value = inline ?? argv[++i]
    if (name === '--seed') args.seed = Number(value)
    else if (name === '--count') args.count = Number(value)
    else if (name === '--keep') args.keep = value
    else throw new Error(`unknown argument ${name}`)
  }
  if (!Number.isInteger(args.seed) || !Number.isInteger(args.count)) {
    throw new Error('--seed and --count take integers')
  }
  return args
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { seed, count } = parseArgs(process.argv.slice(2))
  for (const c of generate(seed, count)) process.stdout.write(JSON.stringify(c) + '\n')
}
