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
});
