// `tsreverse -demo`: the main job once, end to end, in a temporary directory: a sample tree,
// a config, the encrypted view mounted, a copy of it as a backup server would take, a restore
// from that copy alone, and a byte-for-byte check. Uses the real CLI for every step, so it
// exercises exactly what a user runs.
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { promises as fsp } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ExitCode, UserError } from '../exitcodes.js'
import { findMount, readMountinfo } from '../fuse/mountinfo.js'
import { plural } from '../plural.js'

const LONG_NAME = 'a-file-name-long-enough-to-be-hashed-'.repeat(5) + '.txt'

async function makeSampleTree(src: string): Promise<void> {
  await fsp.mkdir(path.join(src, 'docs', 'letters'), { recursive: true })
  await fsp.mkdir(path.join(src, 'photos'))
  await fsp.writeFile(path.join(src, 'README.txt'), 'This tree was made by tsreverse -demo.\n')
  await fsp.writeFile(path.join(src, 'docs', 'letters', 'héllo wörld.txt'), 'Dear backup server, you will never read this.\n'.repeat(100))
  await fsp.writeFile(path.join(src, 'photos', 'random.bin'), randomBytes(300_000))
  await fsp.writeFile(path.join(src, 'docs', LONG_NAME), 'long names are hashed in the view\n')
  await fsp.writeFile(path.join(src, 'empty'), '')
  await fsp.writeFile(path.join(src, 'docs', 'secret.sh'), '#!/bin/sh\necho hi\n', { mode: 0o700 })
  await fsp.symlink('docs/letters', path.join(src, 'letters-link'))
}

interface Entry {
  type: string
  mode: number
  /** In nanoseconds: the view, the copy and the restore all keep them. */
  mtimeNs: string
  sha256?: string
  target?: string
}

/** path -> what a restore must reproduce: type, permission bits, mtime, content or link target. */
async function snapshot(root: string): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>()
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await fsp.readdir(path.join(root, rel))).sort()) {
      const r = path.join(rel, name)
      const abs = path.join(root, r)
      const st = await fsp.lstat(abs, { bigint: true })
      const e: Entry = {
        type: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file',
        mode: Number(st.mode & 0o7777n),
        mtimeNs: String(st.mtimeNs),
      }
      if (st.isFile())
        e.sha256 = createHash('sha256')
          .update(await fsp.readFile(abs))
          .digest('hex')
      if (st.isSymbolicLink()) e.target = await fsp.readlink(abs)
      if (st.isDirectory()) await walk(r)
      out.set(r, e)
    }
  }
  await walk('')
  return out
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  if (r.status !== 0) {
    const shown = cmd === process.execPath ? 'tsreverse' : cmd
    throw new UserError(
      `demo step "${shown} ${args.slice(cmd === process.execPath ? 1 : 0).join(' ')}" failed (exit ${r.status}): ${r.stderr.trim()}`,
      ExitCode.Other,
    )
  }
}

const tsreverse = (args: string[]): void => run(process.execPath, [process.argv[1]!, ...args])

const say = (line = ''): void => void process.stdout.write(line + '\n')

function hexdump(buf: Buffer): string {
  const lines: string[] = []
  for (let i = 0; i < buf.length; i += 16) {
    lines.push(
      `    ${i.toString(16).padStart(4, '0')}  ${buf
        .subarray(i, i + 16)
        .toString('hex')
        .replace(/(..)/g, '$1 ')
        .trim()}`,
    )
  }
  return lines.join('\n')
}

async function showView(mnt: string): Promise<void> {
  say(`The encrypted view at ${mnt} (what the backup server sees):`)
  const names = (await fsp.readdir(mnt)).sort()
  for (const name of names) {
    const st = await fsp.lstat(path.join(mnt, name))
    const kind = st.isDirectory() ? 'dir ' : st.isSymbolicLink() ? 'link' : 'file'
    say(`    ${kind} ${String(st.size).padStart(7)}  ${name}`)
  }
  for (const name of names) {
    const st = await fsp.lstat(path.join(mnt, name))
    if (!st.isFile() || st.size === 0 || name.startsWith('gocryptfs.')) continue
    const head = (await fsp.readFile(path.join(mnt, name))).subarray(0, 48)
    say(`First bytes of ${name}: an 18-byte header (version 2, file ID), then per 4 KiB block a nonce and a tag:`)
    say(hexdump(head))
    break
  }
  say()
}

export async function runDemo(flags: { quiet?: boolean }): Promise<void> {
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'tsreverse-demo-'))
  const src = path.join(work, 'src')
  const mnt = path.join(work, 'view')
  const backup = path.join(work, 'backup')
  const restored = path.join(work, 'restored')
  const pass = path.join(work, 'password')
  let mounted = false
  try {
    await fsp.mkdir(src)
    await fsp.mkdir(mnt)
    await makeSampleTree(src)
    await fsp.writeFile(pass, randomBytes(12).toString('base64url') + '\n', { mode: 0o600 })
    say(`1. A sample plaintext tree in ${src}`)
    tsreverse(['-init', '-q', '-scryptn', '12', '-passfile', pass, src])
    say(`2. A config: ${path.join(src, '.gocryptfs.reverse.conf')} (mode 0400, master key wrapped by the password)`)
    tsreverse(['-passfile', pass, src, mnt])
    mounted = true
    say(`3. Mounted: tsreverse -passfile ${pass} ${src} ${mnt}`)
    say()
    await showView(mnt)
    // What rsync -a on a backup server would do: symlinks as symlinks, modes and times kept.
    run('cp', ['-a', mnt, backup])
    say(`4. Copied the view to ${backup}, as a backup server would`)
    tsreverse(['-q', '-passfile', pass, '-restore', backup, restored])
    say(`5. Restored the copy: tsreverse -passfile ${pass} -restore ${backup} ${restored}`)
    const before = await snapshot(src)
    const after = await snapshot(restored)
    before.delete('.gocryptfs.reverse.conf')
    const problems: string[] = []
    for (const [rel, e] of before) {
      const r = after.get(rel)
      if (!r) problems.push(`missing after restore: ${rel}`)
      else if (JSON.stringify(r) !== JSON.stringify(e)) {
        problems.push(`differs after restore: ${rel}: ${JSON.stringify(e)} vs ${JSON.stringify(r)}`)
      }
    }
    for (const rel of after.keys()) if (!before.has(rel)) problems.push(`unexpected after restore: ${rel}`)
    if (problems.length > 0) throw new UserError(`demo check failed:\n  ${problems.join('\n  ')}`, ExitCode.Other)
    const files = [...before.values()].filter((e) => e.type === 'file').length
    say(`6. Checked: all ${plural(before.size, 'entry', 'entries')} (${plural(files, 'file')}) restored with identical bytes, modes, mtimes and link targets`)
  } finally {
    if (mounted && findMount(await readMountinfo(), mnt)) {
      spawnSync('fusermount', ['-u', mnt])
      if (findMount(await readMountinfo(), mnt)) spawnSync('fusermount', ['-u', '-z', mnt])
    }
    await fsp.rm(work, { recursive: true, force: true })
  }
  if (!flags.quiet) say(`Demo finished; ${work} removed.`)
}
