// Documentation cannot rot: every ```sh block of docs/tutorial.md, of
// docs/runbooks/*.md and of docs/download-guide.md runs, in the order
// written, with bash against a local edge (the built worker in Miniflare)
// that the document's setup prepares, and must exit 0; then the setup's
// check asserts the end state through the API.
//
// The blocks of one runbook behave like one terminal session: each runs in
// its own `bash -euo pipefail`, but the shell variables, functions and
// working directory a block leaves are restored for the next one. The real
// `updraft` CLI is first on PATH (UPDRAFT_BIN overrides target/release/updraft).
//
// Annotations, an HTML comment on the line just above a fence:
//   <!-- runbook-test: skip (why) -->   not run here; reported as skipped with the reason
//   <!-- runbook-test: type EXPR -->    run on a terminal (util-linux `script`) and type
//                                       the line `printf '%s\n' EXPR` prints (evaluated in the
//                                       session, e.g. "$BAD_RELEASE") when asked: a confirmation
//
// RUNBOOK_VERBOSE=1 prints every block's output.
//
// A new runbook is picked up on its own, with the default setup (a readyEdge:
// UPDRAFT_SERVER, ROOT, UPDRAFT_TOKEN as admin and <ROLE>_TOKEN for each role);
// when it needs more, write tests/docs/<name>.setup.mjs whose default export
// returns { env, vars, check(vars), stop() } (see emergency-revocation.setup.mjs).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO } from './helpers/edge.mjs';
import { UPDRAFT, tempDir } from './helpers/cli.mjs';
import { readyEdge, ROLES } from './helpers/setup.mjs';

const RUNBOOKS = join(REPO, 'docs', 'runbooks');
const CLI = process.env.UPDRAFT_BIN ?? UPDRAFT;
const BLOCK_TIMEOUT_MS = 120_000;

/**
 * The ```sh blocks of a runbook, in order: { n, line, heading, code, skip, type }.
 * `skip` is the reason given in a skip annotation; `type` the expression to type.
 */
function shellBlocks(markdown) {
  const lines = markdown.split('\n');
  const blocks = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const h = /^#{1,6}\s+(.*)$/.exec(lines[i]);
    if (h) heading = h[1].trim();
    if (!/^```sh\s*$/.test(lines[i])) continue;
    const start = i;
    const code = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) code.push(lines[i]);
    if (i >= lines.length) throw new Error(`the sh block at line ${start + 1} is never closed`);
    let above = start - 1;
    while (above >= 0 && lines[above].trim() === '') above--;
    const note = /^<!--\s*runbook-test:\s*(skip|type)\b\s*(.*?)\s*-->$/.exec(lines[above]?.trim() ?? '');
    if (/^<!--\s*runbook-test/.test(lines[above]?.trim() ?? '') && !note) {
      throw new Error(`line ${above + 1}: unknown runbook-test annotation ${lines[above].trim()}`);
    }
    const skip = note?.[1] === 'skip' ? (note[2].replace(/^\((.*)\)$/, '$1') || 'marked skip') : undefined;
    const type = note?.[1] === 'type' ? note[2] : undefined;
    if (type === '') throw new Error(`line ${above + 1}: "type" needs an expression`);
    blocks.push({ n: blocks.length + 1, line: start + 1, heading, code: code.join('\n'), skip, type });
  }
  return blocks;
}

// Saves the session after a block: variables (not bash's own, not read-only),
// functions, and the working directory, as bash code to source.
const SAVE_SESSION = String.raw`
__runbook_save() {
  local __name __decl
  for __name in $(compgen -v); do
    case $__name in
      BASH*|EUID|PPID|UID|GROUPS|SHELLOPTS|SHLVL|PWD|OLDPWD|_|FUNCNAME|DIRSTACK|PIPESTATUS|RANDOM|SRANDOM|SECONDS|LINENO|HISTCMD|EPOCHREALTIME|EPOCHSECONDS|OPTIND|OPTARG|OPTERR|IFS|COLUMNS|LINES|PS1|PS2|PS4|COMP_WORDBREAKS|RUNBOOK_*|__*) continue ;;
    esac
    __decl=$(declare -p "$__name" 2>/dev/null) || continue
    [[ $__decl =~ ^declare\ -[a-zA-Z]*r ]] && continue
    printf '%s\n' "$__decl"
  done
  for __name in $(compgen -A function); do
    [[ $__name == __* ]] || declare -f "$__name"
  done
  printf 'cd -- %q\n' "$PWD"
}`;

function blockScript(block) {
  return [
    'set -euo pipefail',
    'cd "$RUNBOOK_WORKDIR"',
    'if [ -f "$RUNBOOK_STATE" ]; then source "$RUNBOOK_STATE"; fi',
    `# ${block.heading} (line ${block.line})`,
    block.code,
    SAVE_SESSION,
    '__runbook_save > "$RUNBOOK_STATE.next"',
    'mv "$RUNBOOK_STATE.next" "$RUNBOOK_STATE"',
    '',
  ].join('\n');
}

/** Runs one block; resolves { code, output }. */
function runBlock(block, env, work) {
  if (block.type !== undefined && spawnSync('script', ['--version']).error) {
    throw new Error(`line ${block.line} types into a terminal, which needs util-linux \`script\` (not found on PATH)`);
  }
  const script = join(work, `block-${block.n}.sh`);
  writeFileSync(script, blockScript(block));
  const args = block.type === undefined
    ? [script]
    // A terminal for the confirmation: `script` gives the block a pty and types what it reads.
    : ['-c', `{ if [ -f "$RUNBOOK_STATE" ]; then source "$RUNBOOK_STATE"; fi; printf '%s\\n' ${block.type}; } | script -qefc "bash ${script}" /dev/null`];
  return new Promise((resolve) => {
    const child = spawn('bash', args, { env, cwd: work, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    const timer = setTimeout(() => { output += `\n[killed after ${BLOCK_TIMEOUT_MS} ms]`; process.kill(-child.pid, 'SIGKILL'); }, BLOCK_TIMEOUT_MS);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code: code ?? signal, output }); });
  });
}

/** The values of shell variables in the saved session. */
function sessionVars(state, names) {
  const r = spawnSync('bash', ['-c', `source "$1"; shift; for v; do printf '%s\\0' "\${!v-}"; done`, 'vars', state, ...names], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const values = r.stdout.split('\0');
  return Object.fromEntries(names.map((n, i) => [n, values[i]]));
}

/** The environment blocks run in: no ambient UPDRAFT_* settings, the CLI first on PATH. */
function blockEnv(extra, work) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('UPDRAFT_') && !k.startsWith('RUNBOOK_')));
  return {
    ...env,
    ...extra,
    PATH: `${dirname(CLI)}:${process.env.PATH}`,
    SHELL: '/bin/bash',
    RUNBOOK_WORKDIR: work,
    RUNBOOK_STATE: join(work, 'session.sh'),
  };
}

// ---------------------------------------------------------------- setups

/** Any runbook: an edge with a root and a token per role. */
async function defaultSetup() {
  const s = await readyEdge();
  const env = { UPDRAFT_SERVER: s.edge.url, UPDRAFT_TOKEN: s.tokens.admin, ROOT: s.rootPath };
  for (const role of ROLES) env[`${role.toUpperCase()}_TOKEN`] = s.tokens[role];
  return { env, vars: [], check: async () => {}, stop: () => s.stop() };
}

/** A document's setup: tests/docs/<name>.setup.mjs (default export) when it exists. */
async function setupFor(file) {
  const path = join(REPO, 'tests', 'docs', `${basename(file, '.md')}.setup.mjs`);
  if (!existsSync(path)) return defaultSetup();
  return (await import(pathToFileURL(path).href)).default();
}

// ---------------------------------------------------------------- the suites

test('shell blocks are found in order with their annotations', () => {
  const md = [
    '# A', '```sh', 'echo one', '```', '## B', '<!-- runbook-test: skip (needs a real CDN) -->', '', '```sh', 'echo two', '```',
    '<!-- runbook-test: type "$X" -->', '```sh', 'updraft revoke', '```', '```json', '{}', '```',
  ].join('\n');
  const blocks = shellBlocks(md);
  assert.deepEqual(blocks.map((b) => [b.n, b.line, b.heading, b.code, b.skip, b.type]), [
    [1, 2, 'A', 'echo one', undefined, undefined],
    [2, 8, 'B', 'echo two', 'needs a real CDN', undefined],
    [3, 12, 'B', 'updraft revoke', undefined, '"$X"'],
  ]);
  assert.throws(() => shellBlocks('<!-- runbook-test: skipp -->\n```sh\nx\n```'), /unknown runbook-test annotation/);
  assert.throws(() => shellBlocks('```sh\nx\n'), /never closed/);
});

test('a session carries variables, functions and the directory from block to block', async () => {
  const work = tempDir('updraft-runbook-');
  const env = blockEnv({ GIVEN: 'from the setup' }, work);
  const blocks = shellBlocks([
    '```sh', 'A="two words"; declare -a L=(x "y z"); f() { echo "f:$1"; }', 'mkdir -p sub && cd sub', '```',
    '```sh', 'test "$A" = "two words" && test "${L[1]}" = "y z" && test "$(f 1)" = f:1', 'test "$(basename "$PWD")" = sub', 'test "$GIVEN" = "from the setup"', '```',
    '```sh', 'false', 'echo never', '```',
  ].join('\n'));
  for (const block of blocks.slice(0, 2)) {
    const r = await runBlock(block, env, work);
    assert.equal(r.code, 0, r.output);
  }
  const failed = await runBlock(blocks[2], env, work);
  assert.equal(failed.code, 1);
  assert.doesNotMatch(failed.output, /never/);
  assert.deepEqual(sessionVars(env.RUNBOOK_STATE, ['A', 'GIVEN']), { A: 'two words', GIVEN: 'from the setup' });
});

// The tutorial first, then every runbook, then the download guide.
const documents = [
  'docs/tutorial.md',
  ...(existsSync(RUNBOOKS) ? readdirSync(RUNBOOKS).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/runbooks/${f}`) : []),
  'docs/download-guide.md',
].filter((f) => existsSync(join(REPO, f)));

for (const file of documents) {
  const blocks = shellBlocks(readFileSync(join(REPO, file), 'utf8'));
  describe(file, () => {
    let setup;
    let env;
    let failed;
    const work = tempDir('updraft-runbook-');
    before(async () => {
      setup = await setupFor(file);
      env = blockEnv(setup.env, work);
    });
    after(() => setup?.stop());

    for (const block of blocks) {
      const name = `block ${block.n} (line ${block.line}, ${block.heading})`;
      test(name, { skip: block.skip }, async (t) => {
        if (failed) return t.skip(`block ${failed.n} (line ${failed.line}) failed`);
        const r = await runBlock(block, env, work);
        if (process.env.RUNBOOK_VERBOSE) t.diagnostic(r.output);
        if (r.code !== 0) failed = block;
        assert.equal(r.code, 0, `line ${block.line} of ${file} exited ${r.code}:\n${block.code}\n--- output ---\n${r.output}`);
      });
    }

    test('the end state is right', async (t) => {
      if (failed) return t.skip(`block ${failed.n} (line ${failed.line}) failed`);
      await setup.check(setup.vars.length ? sessionVars(env.RUNBOOK_STATE, setup.vars) : {});
    });
  });
}
