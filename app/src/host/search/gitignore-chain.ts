import { readFile } from 'node:fs/promises';
import path from 'node:path';
import ignore, { type Ignore } from 'ignore';

/** Largest .gitignore file read; bigger ones are ignored (a generated file, not a person's rules). */
const MAX_GITIGNORE_BYTES = 1024 * 1024;

interface Level {
  /** Workspace-relative posix folder holding the .gitignore ('' for the root). */
  base: string;
  ig: Ignore;
  /** The raw rules, kept to hand them to ripgrep (see toRipgrepRules). */
  rules: string[];
}

/**
 * The .gitignore files that apply to a folder: the root's and every folder's down to it, as in
 * git (deeper files win; `!` re-includes). Only files inside the workspace count: nothing above
 * the root is read. Immutable: `descend` returns a new chain.
 */
export class GitignoreChain {
  private constructor(private readonly levels: readonly Level[]) {}

  /** An empty chain (when .gitignore is not respected). */
  static empty(): GitignoreChain {
    return new GitignoreChain([]);
  }

  /**
   * The chain for folder `relDir` (workspace-relative posix, '.' for the root): the .gitignore
   * of the root and of every folder down to `relDir`. When `relDir` itself is ignored by its
   * ancestors, the person asked for it explicitly: the ancestors' rules are dropped.
   */
  static async forFolder(rootAbs: string, relDir: string): Promise<GitignoreChain> {
    const parts = relDir === '.' || relDir === '' ? [] : relDir.split('/');
    let chain = await GitignoreChain.empty().descend(rootAbs, '');
    for (let i = 0; i < parts.length; i++) {
      const rel = parts.slice(0, i + 1).join('/');
      if (chain.ignores(rel, true)) chain = GitignoreChain.empty();
      chain = await chain.descend(path.join(rootAbs, ...parts.slice(0, i + 1)), rel);
    }
    return chain;
  }

  /** The chain for a child folder, adding its .gitignore if it has one. */
  async descend(dirAbs: string, relDir: string): Promise<GitignoreChain> {
    let text: string;
    try {
      const buf = await readFile(path.join(dirAbs, '.gitignore'), { flag: 'r' });
      if (buf.length > MAX_GITIGNORE_BYTES) return this;
      text = buf.toString('utf8');
    } catch {
      return this;
    }
    const rules = text.split(/\r?\n/);
    const ig = ignore({ allowRelativePaths: true }).add(rules);
    return new GitignoreChain([...this.levels, { base: relDir, ig, rules }]);
  }

  /** True when workspace-relative `rel` (a folder when `isDir`) is ignored. */
  ignores(rel: string, isDir: boolean): boolean {
    for (let i = this.levels.length - 1; i >= 0; i--) {
      const level = this.levels[i] as Level;
      let sub: string;
      if (level.base === '') sub = rel;
      else if (rel.startsWith(`${level.base}/`)) sub = rel.slice(level.base.length + 1);
      else continue;
      const result = level.ig.test(isDir ? `${sub}/` : sub);
      if (result.ignored) return true;
      if (result.unignored) return false;
    }
    return false;
  }

  /**
   * The chain's rules rewritten relative to the workspace root, for ripgrep's `--ignore-file`
   * (whose patterns are anchored at its working directory, the root): `a/.gitignore`'s
   * `x/y` becomes `/a/x/y`, its `*.log` becomes `/a/**\/*.log`.
   */
  toRipgrepRules(): string[] {
    const out: string[] = [];
    for (const level of this.levels) {
      for (const raw of level.rules) {
        const line = raw.replace(/(?<!\\)\s+$/, '');
        if (line === '' || line.startsWith('#')) continue;
        if (level.base === '') {
          out.push(line);
          continue;
        }
        const negative = line.startsWith('!');
        let pattern = negative ? line.slice(1) : line;
        const dirOnly = pattern.endsWith('/');
        if (dirOnly) pattern = pattern.slice(0, -1);
        const anchored = pattern.includes('/');
        if (pattern.startsWith('/')) pattern = pattern.slice(1);
        const rewritten = anchored ? `/${level.base}/${pattern}` : `/${level.base}/**/${pattern}`;
        out.push(`${negative ? '!' : ''}${rewritten}${dirOnly ? '/' : ''}`);
      }
    }
    return out;
  }
}
