// Building the page's elements: a tag, its attributes, its children, in one call.

const svgNs = 'http://www.w3.org/2000/svg';

/** Attributes by name; a null or undefined value leaves the attribute out. */
export type Attrs = Readonly<Record<string, string | number | null | undefined>>;
/** A node, or text for a text node; null and undefined are skipped. */
export type Child = Node | string | number | null | undefined;

function build<E extends Element>(node: E, attrs: Attrs | null, children: readonly Child[]): E {
  if (attrs !== null) {
    for (const [name, value] of Object.entries(attrs)) if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function el(tag: string, attrs: Attrs | null = null, children: readonly Child[] = []): HTMLElement {
  return build(document.createElement(tag), attrs, children);
}

export function sv(tag: string, attrs: Attrs | null = null, children: readonly Child[] = []): SVGElement {
  return build(document.createElementNS(svgNs, tag), attrs, children);
}

export function byId(id: string): HTMLElement {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`the page has no #${id}`);
  return node;
}

/** Replaces the children of `#id`. */
export function fill(id: string, children: readonly Node[]): void {
  byId(id).replaceChildren(...children);
}

export function badge(cls: string, text: string): HTMLElement {
  return el('span', { class: `badge ${cls}` }, [text]);
}

export function row(cells: readonly Child[], attrs: Attrs | null = null): HTMLElement {
  return el('tr', attrs, cells);
}

export function th(text: string, cls?: string): HTMLElement {
  return el('th', cls === undefined ? null : { class: cls }, [text]);
}

export function td(content: Child | readonly Child[], cls?: string): HTMLElement {
  return el('td', cls === undefined ? null : { class: cls }, Array.isArray(content) ? content : [content]);
}
