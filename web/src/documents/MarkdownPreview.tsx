import Markdown, { type Components } from 'react-markdown';
import remarkGfm from 'remark-gfm';

/**
 * Markdown rendered by react-markdown with GitHub's extensions (planning documents are mostly
 * tables and task lists): raw HTML in the text is shown as text (no rehype-raw), and its default
 * URL transform empties `javascript:`/`data:`/`vbscript:` links. Never `dangerouslySetInnerHTML`.
 */
const remarkPlugins = [remarkGfm];

const components: Components = {
  // A link the URL transform emptied is shown as its text: an empty href would reload the app.
  a: ({ node: _node, href, children, ...rest }) =>
    href ? (
      <a {...rest} href={href} target="_blank" rel="noopener noreferrer nofollow">
        {children}
      </a>
    ) : (
      <span className="link-removed">{children}</span>
    ),
  img: ({ node: _node, alt, src, ...rest }) => <img {...rest} src={src} alt={alt ?? ''} loading="lazy" referrerPolicy="no-referrer" />,
  // A wide table scrolls inside the preview instead of widening the page (phones).
  table: ({ node: _node, ...rest }) => (
    <div className="table-scroll">
      <table {...rest} />
    </div>
  ),
};

export function MarkdownPreview({ content }: { content: string }) {
  return (
    <div className="markdown-preview">
      {content.trim() === '' ? (
        <p className="empty">This document is empty.</p>
      ) : (
        <Markdown remarkPlugins={remarkPlugins} components={components}>
          {content}
        </Markdown>
      )}
    </div>
  );
}
