import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { MarkdownPreview } from './MarkdownPreview.js';

const render = (content: string) => renderToStaticMarkup(createElement(MarkdownPreview, { content }));

describe('markdown preview', () => {
  it('renders markdown', () => {
    const html = render('# Scope\n\n- **one**\n- [site](https://example.org)');
    expect(html).toContain('<h1>Scope</h1>');
    expect(html).toContain('<strong>one</strong>');
    expect(html).toContain('href="https://example.org"');
  });

  it('shows raw HTML as text, never as elements', () => {
    const html = render('Hi <img src=x onerror=alert(1)> and <script>alert(2)</script>\n\n<iframe src="https://evil.example"></iframe>');
    expect(html).not.toMatch(/<img|<script|<iframe/i);
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('empties javascript: and data: links', () => {
    const html = render('[click](javascript:alert(1)) [data](data:text/html,<b>x</b>) <javascript:alert(3)>');
    expect(html).not.toMatch(/href="[^"]*(javascript|data):/i);
    expect(html).not.toContain('<a');
    expect(html).toContain('<span class="link-removed">click</span>');
  });

  it('renders GitHub tables as tables (the starter Timeline)', () => {
    const html = render('# Timeline\n\n| Phase | Weeks |\n|---|---|\n| Planning | 1–2 |\n| Launch | 10 |\n');
    expect(html).toContain('<table>');
    expect(html).toContain('<th>Phase</th>');
    expect(html).toContain('<td>Launch</td>');
    expect(html).not.toContain('| Phase |');
  });

  it('renders task lists as checkboxes, ticked or not, never as literal brackets', () => {
    const html = render('# Feature List\n\n- [ ] Contact form\n- [x] Blog\n');
    expect(html).toMatch(/<li class="task-list-item"><input type="checkbox" disabled=""\/> ?Contact form<\/li>/);
    expect(html).toMatch(/<input type="checkbox" disabled="" checked=""\/> ?Blog/);
    expect(html).not.toContain('[ ]');
  });

  it('keeps raw HTML inert inside table cells too', () => {
    const html = render('| a |\n|---|\n| <img src=x onerror=alert(1)> [x](javascript:alert(1)) |\n');
    expect(html).not.toMatch(/<img|href="javascript/i);
  });
});
