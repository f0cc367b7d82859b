/**
 * A small, strict XML parser for the diagram tests: it checks well-formedness (one root, tags closed in order,
 * quoted and unique attributes, `<` and `&` only as markup or a known entity, no characters XML forbids) and
 * returns the element tree, so that a test can find elements by attribute and read their geometry. No DTDs, no
 * CDATA, no namespaces beyond keeping `xmlns` as an attribute: the diagram writes none of those.
 */
export interface XmlElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
  readonly parent: XmlElement | undefined;
  /** The character data directly inside this element, entities decoded. */
  readonly text: string;
}

interface MutableElement {
  name: string;
  attributes: Record<string, string>;
  children: MutableElement[];
  parent: MutableElement | undefined;
  text: string;
}

const nameStart = /[A-Za-z_:]/;
const nameChar = /[A-Za-z0-9_:.-]/;
const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
/** The offset and code of the first character outside XML 1.0's Char production, if any. */
function forbiddenCharacter(source: string): { offset: number; code: number } | undefined {
  let offset = 0;
  for (const char of source) {
    const code = char.codePointAt(0) ?? 0;
    const allowed =
      code === 0x9 ||
      code === 0xa ||
      code === 0xd ||
      (code >= 0x20 && code <= 0xd7ff) ||
      (code >= 0xe000 && code <= 0xfffd) ||
      code >= 0x10000;
    if (!allowed) return { offset, code };
    offset += char.length;
  }
  return undefined;
}

export class XmlError extends Error {}

function decode(raw: string, at: number): string {
  if (raw.includes('<')) throw new XmlError(`'<' in character data or an attribute near offset ${at}`);
  return raw.replace(/&([^;]*);?/g, (match, body: string) => {
    if (!match.endsWith(';')) throw new XmlError(`an unterminated entity near offset ${at}: ${match.slice(0, 12)}`);
    if (body.startsWith('#x')) return String.fromCodePoint(Number.parseInt(body.slice(2), 16));
    if (body.startsWith('#')) return String.fromCodePoint(Number.parseInt(body.slice(1), 10));
    const value = entities[body];
    if (value === undefined) throw new XmlError(`an unknown entity &${body}; near offset ${at}`);
    return value;
  });
}

/** Parses `source`, throwing {@link XmlError} at the first well-formedness error. */
export function parseXml(source: string): XmlElement {
  const bad = forbiddenCharacter(source);
  if (bad) throw new XmlError(`a character XML forbids (U+${bad.code.toString(16)}) at offset ${bad.offset}`);
  let index = 0;
  let root: MutableElement | undefined;
  let current: MutableElement | undefined;

  const readName = (): string => {
    const start = index;
    if (!nameStart.test(source[index] ?? '')) throw new XmlError(`a name expected at offset ${index}`);
    index++;
    while (nameChar.test(source[index] ?? '')) index++;
    return source.slice(start, index);
  };
  const skipSpace = (): boolean => {
    const start = index;
    while (/\s/.test(source[index] ?? '')) index++;
    return index > start;
  };

  if (source.startsWith('<?xml')) {
    const end = source.indexOf('?>');
    if (end < 0) throw new XmlError('an unterminated XML declaration');
    index = end + 2;
  }
  while (index < source.length) {
    if (source.startsWith('<!--', index)) {
      const end = source.indexOf('-->', index + 4);
      if (end < 0) throw new XmlError(`an unterminated comment at offset ${index}`);
      index = end + 3;
    } else if (source.startsWith('</', index)) {
      index += 2;
      const name = readName();
      skipSpace();
      if (source[index] !== '>') throw new XmlError(`'>' expected at offset ${index}`);
      index++;
      if (!current || current.name !== name) throw new XmlError(`</${name}> closes <${current?.name ?? 'nothing'}> at offset ${index}`);
      current = current.parent;
    } else if (source[index] === '<') {
      index++;
      const element: MutableElement = { name: readName(), attributes: {}, children: [], parent: current, text: '' };
      for (;;) {
        const spaced = skipSpace();
        if (source.startsWith('/>', index) || source[index] === '>') break;
        if (!spaced) throw new XmlError(`a space expected before an attribute at offset ${index}`);
        const name = readName();
        skipSpace();
        if (source[index] !== '=') throw new XmlError(`'=' expected after ${name} at offset ${index}`);
        index++;
        skipSpace();
        const quote = source[index];
        if (quote !== '"' && quote !== "'") throw new XmlError(`a quoted value expected for ${name} at offset ${index}`);
        const end = source.indexOf(quote, index + 1);
        if (end < 0) throw new XmlError(`an unterminated value for ${name} at offset ${index}`);
        if (Object.hasOwn(element.attributes, name)) throw new XmlError(`attribute ${name} given twice at offset ${index}`);
        element.attributes[name] = decode(source.slice(index + 1, end), index);
        index = end + 1;
      }
      if (current) current.children.push(element);
      else if (root) throw new XmlError(`a second root element <${element.name}> at offset ${index}`);
      else root = element;
      if (source.startsWith('/>', index)) {
        index += 2;
      } else {
        index++;
        current = element;
      }
    } else {
      const end = source.indexOf('<', index);
      const raw = source.slice(index, end < 0 ? source.length : end);
      const text = decode(raw, index);
      if (current) current.text += text;
      else if (text.trim() !== '') throw new XmlError(`text outside the root element at offset ${index}`);
      index = end < 0 ? source.length : end;
    }
  }
  if (current) throw new XmlError(`<${current.name}> is never closed`);
  if (!root) throw new XmlError('no root element');
  return root;
}

/** Every element under `root` (itself included), depth first, in document order. */
export function allElements(root: XmlElement): XmlElement[] {
  const found: XmlElement[] = [];
  const visit = (element: XmlElement): void => {
    found.push(element);
    for (const child of element.children) visit(child);
  };
  visit(root);
  return found;
}

/** The text of an element and everything inside it. */
export function textContent(element: XmlElement): string {
  return element.text + element.children.map(textContent).join('');
}
