// A small stand-in for the browser DOM, enough to run the chat page's script (src/webview/main.ts) under vitest
// without jsdom: elements with attributes, classes, children, text and innerHTML, events that bubble to the
// document, <details>/<summary> toggling, focus, and simple selectors (tag, .class, [attr], [attr="v"], and the
// descendant combinator). It does what the page relies on, not more.

type Listener = (event: FakeDomEvent) => void;

export class FakeDomEvent {
    defaultPrevented = false;
    target: FakeElement | undefined;
    key?: string;
    shiftKey?: boolean;
    isComposing?: boolean;
    data?: unknown;
    constructor(
        readonly type: string,
        init: { bubbles?: boolean; key?: string; shiftKey?: boolean; isComposing?: boolean; data?: unknown } = {},
        readonly bubbles = init.bubbles ?? false,
    ) {
        Object.assign(this, init);
    }
    preventDefault(): void {
        this.defaultPrevented = true;
    }
}

class Target {
    private readonly listeners = new Map<string, Listener[]>();
    addEventListener(type: string, listener: Listener): void {
        this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
    }
    removeEventListener(type: string, listener: Listener): void {
        this.listeners.set(type, (this.listeners.get(type) ?? []).filter((l) => l !== listener));
    }
    protected fire(event: FakeDomEvent): void {
        for (const listener of this.listeners.get(event.type) ?? []) listener(event);
    }
}

/** Attribute-reflecting string properties, and boolean ones (present or absent). */
const stringProps = ["id", "title", "placeholder", "type", "role"] as const;
const booleanProps = ["hidden", "disabled", "open"] as const;

export class FakeElement extends Target {
    readonly tagName: string;
    parentNode: FakeElement | null = null;
    children: FakeElement[] = [];
    readonly attributes = new Map<string, string>();
    readonly dataset: Record<string, string>;
    // Defined in the constructor, reflecting attributes.
    declare id: string;
    declare title: string;
    declare placeholder: string;
    declare type: string;
    declare role: string;
    declare hidden: boolean;
    declare disabled: boolean;
    declare open: boolean;
    value = "";
    scrollTop = 0;
    scrollHeight = 0;
    clientHeight = 0;
    private text = "";
    private markup: string | undefined;

    constructor(
        readonly ownerDocument: FakeDocument,
        tag: string,
    ) {
        super();
        this.tagName = tag.toUpperCase();
        const attrs = this.attributes;
        const name = (key: string) => `data-${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
        this.dataset = new Proxy({} as Record<string, string>, {
            get: (_, key) => (typeof key === "string" ? attrs.get(name(key)) : undefined),
            set: (_, key, v) => (typeof key === "string" && attrs.set(name(key), String(v)), true),
        });
        for (const prop of stringProps) {
            Object.defineProperty(this, prop, {
                get: () => attrs.get(prop) ?? "",
                set: (v: string) => attrs.set(prop, String(v)),
            });
        }
        for (const prop of booleanProps) {
            Object.defineProperty(this, prop, {
                get: () => attrs.has(prop),
                set: (v: boolean) => (v ? attrs.set(prop, "") : attrs.delete(prop)),
            });
        }
    }

    get className(): string {
        return this.attributes.get("class") ?? "";
    }
    set className(v: string) {
        this.attributes.set("class", v);
    }
    get classList() {
        return { contains: (c: string) => this.className.split(/\s+/).includes(c) };
    }
    setAttribute(key: string, value: string): void {
        this.attributes.set(key, String(value));
    }
    getAttribute(key: string): string | null {
        return this.attributes.get(key) ?? null;
    }
    hasAttribute(key: string): boolean {
        return this.attributes.has(key);
    }

    get textContent(): string {
        if (this.markup !== undefined) {
            return this.markup
                .replace(/<[^>]*>/g, "")
                .replace(/&lt;/g, "<")
                .replace(/&gt;/g, ">")
                .replace(/&quot;/g, '"')
                .replace(/&#39;/g, "'")
                .replace(/&amp;/g, "&");
        }
        return this.text + this.children.map((c) => c.textContent).join("");
    }
    set textContent(v: string) {
        this.detachChildren();
        this.markup = undefined;
        this.text = v;
    }
    get innerHTML(): string {
        return this.markup ?? "";
    }
    set innerHTML(v: string) {
        this.detachChildren();
        this.text = "";
        this.markup = v;
    }

    append(...nodes: FakeElement[]): void {
        for (const node of nodes) {
            node.remove();
            node.parentNode = this;
            this.children.push(node);
        }
    }
    replaceChildren(...nodes: FakeElement[]): void {
        this.detachChildren();
        this.text = "";
        this.markup = undefined;
        this.append(...nodes);
    }
    insertBefore(node: FakeElement, ref: FakeElement | null): void {
        if (!ref) return this.append(node);
        node.remove();
        node.parentNode = this;
        this.children.splice(this.children.indexOf(ref), 0, node);
    }
    replaceWith(node: FakeElement): void {
        const parent = this.parentNode;
        if (!parent) return;
        parent.insertBefore(node, this);
        this.remove();
    }
    remove(): void {
        if (!this.parentNode) return;
        const siblings = this.parentNode.children;
        siblings.splice(siblings.indexOf(this), 1);
        this.parentNode = null;
    }
    private detachChildren(): void {
        for (const child of this.children) child.parentNode = null;
        this.children = [];
    }

    /** Every element below this one, in document order. */
    descendants(): FakeElement[] {
        return this.children.flatMap((c) => [c, ...c.descendants()]);
    }
    querySelectorAll(selector: string): FakeElement[] {
        const alternatives = selector.split(",").map((s) => s.trim());
        return this.descendants().filter((e) => alternatives.some((s) => matches(e, s, this)));
    }
    querySelector(selector: string): FakeElement | null {
        return this.querySelectorAll(selector)[0] ?? null;
    }
    closest(selector: string): FakeElement | null {
        for (let e: FakeElement | null = this; e; e = e.parentNode) if (matches(e, selector)) return e;
        return null;
    }

    dispatchEvent(event: FakeDomEvent): boolean {
        event.target ??= this;
        this.fire(event);
        if (event.bubbles) {
            if (this.parentNode) this.parentNode.dispatchEvent(event);
            else if (this === this.ownerDocument.body) this.ownerDocument.dispatchEvent(event);
        }
        return !event.defaultPrevented;
    }
    /** What a mouse click does: the click event, then a <summary>'s default action of toggling its <details>. */
    click(): void {
        if (this.hasAttribute("disabled")) return;
        const go = this.dispatchEvent(new FakeDomEvent("click", { bubbles: true }));
        const details = this.parentNode;
        if (go && this.tagName === "SUMMARY" && details?.tagName === "DETAILS") {
            details.open = !details.open;
            details.dispatchEvent(new FakeDomEvent("toggle"));
        }
    }
    focus(): void {
        this.ownerDocument.activeElement = this;
    }
}

function matchesCompound(e: FakeElement, compound: string): boolean {
    const parts = compound.match(/^[a-z]+|\.[\w-]+|\[[\w-]+(?:="[^"]*")?\]/gi);
    if (!parts || parts.join("") !== compound) throw new Error(`fakeDom: unsupported selector ${compound}`);
    return parts.every((p) => {
        if (p.startsWith(".")) return e.classList.contains(p.slice(1));
        if (p.startsWith("[")) {
            const [, key, value] = /^\[([\w-]+)(?:="([^"]*)")?\]$/.exec(p)!;
            return value === undefined ? e.hasAttribute(key!) : e.getAttribute(key!) === value;
        }
        return e.tagName === p.toUpperCase();
    });
}

/** `a b c`: c matches, with ancestors matching b then a (below `scope` when given). */
function matches(e: FakeElement, selector: string, scope?: FakeElement): boolean {
    const steps = selector.trim().split(/\s+/);
    if (!matchesCompound(e, steps.at(-1)!)) return false;
    let node = e.parentNode;
    for (let i = steps.length - 2; i >= 0; i--) {
        while (node && node !== scope && !matchesCompound(node, steps[i]!)) node = node.parentNode;
        if (!node || node === scope) return false;
        node = node.parentNode;
    }
    return true;
}

export class FakeDocument extends Target {
    readonly body: FakeElement;
    activeElement: FakeElement | null = null;
    constructor() {
        super();
        this.body = new FakeElement(this, "body");
    }
    createElement(tag: string): FakeElement {
        return new FakeElement(this, tag);
    }
    getElementById(id: string): FakeElement | null {
        return this.body.descendants().find((e) => e.getAttribute("id") === id) ?? null;
    }
    querySelectorAll(selector: string): FakeElement[] {
        return this.body.querySelectorAll(selector);
    }
    querySelector(selector: string): FakeElement | null {
        return this.body.querySelector(selector);
    }
    dispatchEvent(event: FakeDomEvent): boolean {
        event.target ??= this.body;
        this.fire(event);
        return !event.defaultPrevented;
    }
}

export class FakeWindow extends Target {
    dispatchEvent(event: FakeDomEvent): boolean {
        this.fire(event);
        return !event.defaultPrevented;
    }
}

/** Whether nothing above `e` hides it (a hidden element and what it holds are skipped by Tab). */
function shown(e: FakeElement): boolean {
    for (let n: FakeElement | null = e; n; n = n.parentNode) {
        if (n.hasAttribute("hidden")) return false;
        // The body of a closed <details> is not rendered; its <summary> is.
        const parent = n.parentNode;
        if (parent?.tagName === "DETAILS" && !parent.hasAttribute("open") && n.tagName !== "SUMMARY") return false;
    }
    return true;
}

/**
 * The elements Tab visits, in order, as a browser orders them: the focusable ones in document order (nothing here
 * sets a positive tabindex; the tests check that), leaving out disabled, hidden and tabindex=-1 ones.
 */
export function tabOrder(root: FakeElement): FakeElement[] {
    const focusable = new Set(["BUTTON", "TEXTAREA", "INPUT", "SELECT", "SUMMARY"]);
    return root
        .descendants()
        .filter(
            (e) =>
                (focusable.has(e.tagName) || e.hasAttribute("tabindex")) &&
                !e.hasAttribute("disabled") &&
                e.getAttribute("tabindex") !== "-1" &&
                shown(e),
        );
}
