import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function documents(): Array<{ file: string; text: string }> {
  const docs = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f));
  const examples = ['examples/le-grimoire/README.md'];
  return ['README.md', ...docs, ...examples].map((file) => ({ file, text: readFileSync(join(ROOT, file), 'utf8') }));
}

/** Every `ferry <command> [--flag …]` written in code spans and blocks of README.md and docs/. */
function invocations(text: string): string[][] {
  const code = [...text.matchAll(/```[a-z]*\n([\s\S]*?)```|`([^`\n]+)`/g)].map((m) => m[1] ?? m[2] ?? '');
  const found: string[][] = [];
  for (const snippet of code) {
    for (const m of snippet.matchAll(/(?:^|[\s(|;&])(?:npx )?ferry((?: [a-z][a-z-]*)+(?: +(?:<[^>]+>|\[[^\]]+\]|latest|all|[\w./*-]+|--?[a-z][a-z-]*(?:[ =](?!-)[^\s`]+)?))*)/g)) {
      found.push((m[1] ?? '').trim().split(/\s+/));
    }
  }
  return found;
}

function optionNames(command: Command): Set<string> {
  const names = new Set<string>(['--help', '-h']);
  for (let c: Command | null = command; c !== null; c = c.parent) {
    for (const option of c.options) {
      if (option.long !== undefined) names.add(option.long);
      if (option.short !== undefined) names.add(option.short);
      if (option.negate && option.long !== undefined) names.add(option.long);
    }
  }
  return names;
}

describe('README.md and docs/ say only what the CLI does', () => {
  it('every documented command and flag exists', () => {
    const program = buildProgram();
    const problems: string[] = [];
    let checked = 0;
    for (const { file, text } of documents()) {
      for (const words of invocations(text)) {
        let command: Command = program;
        const path: string[] = [];
        for (const word of words) {
          if (word.startsWith('-')) break;
          const sub = command.commands.find((c) => c.name() === word);
          if (sub === undefined) break;
          command = sub;
          path.push(word);
        }
        if (path.length === 0) {
          if (words[0] !== undefined && !words[0].startsWith('-') && /^[a-z]+$/.test(words[0])) problems.push(`${file}: ferry ${words.join(' ')}: no command ${words[0]}`);
          continue;
        }
        checked++;
        const allowed = optionNames(command);
        for (const flag of words.filter((w) => w.startsWith('-')).map((w) => w.split('=')[0] as string)) {
          if (!allowed.has(flag)) problems.push(`${file}: ferry ${path.join(' ')}: no option ${flag}`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(20);
  });
});
