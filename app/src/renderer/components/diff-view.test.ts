import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { classify, DiffView, onlyWhitespaceChanges } from './diff-view.js';

const render = (diff: string) => renderToStaticMarkup(createElement(DiffView, { diff }));

describe('DiffView', () => {
  describe('classify', () => {
    it('reads --- and +++ as file headers only before the first hunk', () => {
      const lines = ['--- a/q.sql', '+++ b/q.sql', '@@ -1,2 +1,2 @@', '--- a comment', '+++ counter', ' select 1;'];
      expect(classify(lines)).toEqual(['meta', 'meta', 'hunk', 'del', 'add', '']);
    });

    it('marks "no newline" notes as meta, not as context', () => {
      expect(classify(['@@ -1 +1 @@', '-a', '\\ No newline at end of file', '+b'])).toEqual([
        'hunk',
        'del',
        'meta',
        'add',
      ]);
    });
  });

  it('counts every added and removed line, even past the fold', () => {
    const body = Array.from({ length: 450 }, (_, i) => `+added ${i}`);
    const diff = ['--- /dev/null', '+++ b/big.txt', '@@ -0,0 +1,451 @@', ...body, '-- old sql comment', ''].join('\n');
    const html = render(diff);
    expect(html).toMatch(/class="add-count">\+450<\/span> <span class="del-count">−1</);
    // 454 lines (3 of them headers), 400 shown: 54 more, 53 added and the removed one.
    expect(html).toContain(
      '54 more lines not shown (<span class="add-count">+53</span> <span class="del-count">−1</span>)',
    );
    expect(html).toContain('Show all');
    expect(html).not.toContain('added 449');
  });

  it('has no fold for a short diff', () => {
    const html = render('--- a/n\n+++ b/n\n@@ -1 +1 @@\n-a\n+b\n');
    expect(html).not.toContain('Show all');
    expect(html).toContain('+b');
  });

  it('says when a change is only whitespace, and marks the whitespace', () => {
    const diff = '--- a/n\n+++ b/n\n@@ -1,2 +1,2 @@\n-a = 1\n-b\n+a  =  1\t\n+b \n';
    const html = render(diff);
    expect(html).toContain('Only whitespace changes');
    expect(html).toContain('title="trailing whitespace (1 characters)">·</mark>');
    const lines = ['@@ -1 +1 @@', '-a', '+b'];
    expect(onlyWhitespaceChanges(lines, classify(lines))).toBe(false);
  });

  it('keeps indentation after the +/- marker as indentation', () => {
    const html = render('--- a/n\n+++ b/n\n@@ -1 +1 @@\n-x\n+        indented\n');
    expect(html).toContain('+        indented');
    expect(html).not.toContain('␣');
  });
});
