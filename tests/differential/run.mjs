// Runs generated cases through @cloud-copilot/iam-simulate and through irsa's
// policy engine (crates/policy/examples/decide_jsonl.rs) and compares the
// decisions: Allow, ExplicitDeny or ImplicitDeny.
//
//   node run.mjs --seed 1 --count 2000 [--keep disagreements.jsonl]
//
// Disagreements of a class recorded in known_differences.json (each one
// triaged against the AWS documentation as iam-simulate's error) are counted
// but do not fail the run. Any other disagreement is printed as JSON and the
// run exits 1.
// The engine binary is target/debug/examples/decide_jsonl unless DECIDE_BIN
// names another.

import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runSimulation } from '@cloud-copilot/iam-simulate'
import { generate, parseArgs } from './generate.mjs'
import { KNOWN, classify } from './known.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')

const THEIRS = { Allowed: 'Allow', ExplicitlyDenied: 'ExplicitDeny', ImplicitlyDenied: 'ImplicitDeny' }

export async function simulate(c) {
  const simulation = {
    request: {
      principal: c.principal,
      action: c.action,
      resource: { resource: c.resource_arn, accountId: c.resource_account },
      contextVariables: c.context
    },
    identityPolicies: c.identity.map((policy, i) => ({ name: `identity${i}`, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(c.resource ? { resourcePolicy: c.resource } : {}),
    ...(c.boundary ? { permissionBoundaryPolicies: [{ name: 'boundary', policy: c.boundary }] } : {}),
    ...(c.session ? { sessionPolicy: c.session } : {})
  }
  const response = await runSimulation(simulation, { simulationMode: 'Strict' })
  if (response.resultType === 'error') return { error: response.errors }
  if (response.resultType !== 'single') return { error: `unexpected result type ${response.resultType}` }
  if (response.result.ignoredContextKeys?.length) {
    return { error: `ignored context keys ${response.result.ignoredContextKeys.join(', ')}` }
  }
  return { decision: THEIRS[response.overallResult] ?? response.overallResult, analysis: response.result.analysis }
}

export function ours(cases) {
  const bin = process.env.DECIDE_BIN ?? join(root, 'target', 'debug', 'examples', 'decide_jsonl')
  const input = cases.map((c) => JSON.stringify(c)).join('\n') + '\n'
  const run = spawnSync(bin, [], { input, maxBuffer: 1 << 30, encoding: 'utf8' })
  if (run.error || run.status !== 0) {
    throw new Error(`${bin} failed: ${run.error ?? run.stderr}`)
  }
  const byId = new Map()
  for (const line of run.stdout.split('\n')) {
    if (!line.trim()) continue
    const answer = JSON.parse(line)
    byId.set(answer.id, answer)
  }
  return byId
}

// Each known class keeps a small example as a regression test: irsa must still
// decide it as recorded, iam-simulate must still disagree as recorded, and the
// class's predicate must still claim it.
async function checkExamples() {
  const examples = KNOWN.map((k) => k.example)
  const mine = ours(examples)
  const failures = []
  for (const k of KNOWN) {
    const us = mine.get(k.example.id) ?? { error: 'no answer' }
    const theirs = await simulate(k.example)
    const claimed = await classify(k.example, { ours: us, theirs, simulate })
    if (us.decision !== k.ours || theirs.decision !== k.theirs || claimed !== k.id) {
      failures.push({ known: k.id, ours: us.decision ?? us.error, theirs: theirs.decision ?? theirs.error, claimed })
    }
  }
  return failures
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  const started = Date.now()
  const exampleFailures = await checkExamples()
  for (const f of exampleFailures) console.log(JSON.stringify({ example_changed: f }))
  const cases = generate(args.seed, args.count)
  const mine = ours(cases)
  const tally = { cases: cases.length, agree: 0, known: {}, unexplained: 0, decisions: {} }
  const kept = []
  for (const c of cases) {
    const theirs = await simulate(c)
    const us = mine.get(c.id) ?? { error: 'no answer' }
    const a = us.decision ?? 'error'
    const b = theirs.decision ?? 'error'
    tally.decisions[a] = (tally.decisions[a] ?? 0) + 1
    if (a === b && a !== 'error') {
      tally.agree++
      continue
    }
    const known = await classify(c, { ours: us, theirs, simulate })
    if (known) {
      tally.known[known] = (tally.known[known] ?? 0) + 1
      continue
    }
    tally.unexplained++
    const record = { case: c, ours: us.decision ?? us.error, theirs: theirs.decision ?? theirs.error }
    kept.push(record)
    if (tally.unexplained <= 20) console.log(JSON.stringify(record))
  }
  if (args.keep) writeFileSync(args.keep, kept.map((r) => JSON.stringify(r)).join('\n') + (kept.length ? '\n' : ''))
  tally.seconds = Math.round((Date.now() - started) / 100) / 10
  console.error(JSON.stringify({ seed: args.seed, ...tally }))
  const failed = tally.unexplained > 0 || exampleFailures.length > 0
  const passed = tally.agree + Object.values(tally.known).reduce((s, n) => s + n, 0) + KNOWN.length - exampleFailures.length
  console.log(`${passed} passed, ${tally.unexplained + exampleFailures.length} failed`)
  process.exit(failed ? 1 : 0)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e)
    process.exit(2)
  })
}
