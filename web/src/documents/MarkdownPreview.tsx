import Markdown, { type Components } from 'react-markdown';
import remarkGfm from 'remark-gfm';

/**
 * Markdown rendered by react-markdown with GitHub's extensions (planning documents are mostly
 * tables and task lists): raw HTML in the text is shown as text (no rehype-raw), and its default
 * URL transform empties `javascript:`/`data:`/`vbscript:` links. Never `dangerouslySetInnerHTML`.
 */
const remarkPlugins = [remarkGfm];

/** The element's own props: react-markdown also passes its syntax tree node, which is no DOM attribute. */
function elementProps<P extends { node?: unknown }>(props: P): Omit<P, 'node'> {
  const own = { ...props };
  delete own.node;
  return own;
}

const components: Components = {
  // A link the URL transform emptied is shown as its text: an empty href would reload the app.
  a: (props) => {
    const { href, children, ...rest } = elementProps(props);
    return href ? (
      <a {...rest} href={href} target="_blank" rel="noopener noreferrer nofollow">
        {children}
      </a>
    ) : (
      <span className="link-removed">{children}</span>
    );
  },
  img: (props) => {
    const { alt, src, ...rest } = elementProps(props);
    return <img {...rest} src={src} alt={alt ?? ''} loading="lazy" referrerPolicy="no-referrer" />;
  },
  // A wide table scrolls inside the preview instead of widening the page (phones).
  table: (props) => (
    <div className="table-scroll">
      <table {...elementProps(props)} />
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
