/**
 * Test helper: the README's sections as the tests use them, so the commands and config a reader
 * copies are the ones that run: a section's JSON blocks (checked against the config schema by the
 * caller) and its `idvctl ...` lines (comments cut off), split into arguments.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const README = readFileSync(resolve(import.meta.dirname, '..', '..', 'README.md'), 'utf8');

export function readmeSection(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README has no section "## ${title}"`);
  const end = README.indexOf('\n## ', start + 4);
  return README.slice(start, end < 0 ? undefined : end);
}

function blocks(section: string, lang: string): string[] {
  const re = new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g');
  return [...section.matchAll(re)].map((m) => m[1] as string);
}

/** The section's ```json blocks, parsed. */
export function readmeJson(title: string): Record<string, unknown>[] {
  return blocks(readmeSection(title), 'json').map((b) => JSON.parse(b) as Record<string, unknown>);
}

/** The section's `idvctl` lines (in ```sh blocks), as argument lists without `idvctl`. */
export function readmeIdvctl(title: string): string[][] {
  return blocks(readmeSection(title), 'sh')
    .flatMap((b) => b.split('\n'))
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter((l) => l.startsWith('idvctl '))
    .map((l) => l.split(/\s+/).slice(1));
}
