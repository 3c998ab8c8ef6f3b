//! `#[simul::main]` and `#[simul::test]`: run an `async fn` on a simul event loop.
//!
//! Use them through the `simul` crate, which re-exports both (`simul::main`,
//! `simul::test`) and documents them with examples.
//!
//! # How the expansion works
//!
//! The macros walk the item's tokens (no `syn`): outer attributes, then the visibility and
//! qualifiers up to `fn`, the name, an empty parameter list, the return type (everything
//! up to the body) and the body group. The `async fn` is kept whole as an item nested in a
//! plain `fn` of the same name and signature, which runs it on a loop:
//!
//! ```text
//! #[simul::test(virtual_time)]            #[::core::prelude::v1::test]
//! async fn ticks() -> R { BODY }    ==>   fn ticks() -> R {
//!                                             async fn ticks() -> R { BODY }
//!                                             let event_loop = ::simul::EventLoop::builder()
//!                                                 .virtual_time(true).build().expect(..);
//!                                             let output = event_loop.run_until_complete(ticks());
//!                                             event_loop.close();
//!                                             output
//!                                         }
//! ```
//!
//! Keeping the user's function as a real `async fn` means its declared return type drives
//! type inference inside the body (so `?` works in `-> Result<..>` functions) and compiler
//! errors point at the user's own tokens. `#[simul::main]` without options calls
//! `::simul::run(main())`.
//!
//! Mistakes (a function that is not `async`, parameters, generics, an unknown option, a
//! second `#[test]`) become a `compile_error!` pointing at the offending tokens.

extern crate proc_macro;

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// Runs `async fn main()` on a new simul event loop (through `simul::run`).
///
/// Options: `virtual_time` (a loop whose clock jumps over idle waits), `debug` (debug
/// mode; otherwise the `SIMUL_DEBUG` environment variable decides), each also accepted as
/// `name = true` / `name = false`.
///
/// See `simul::main` for examples.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Main, args, item)
}

/// Marks an `async fn` as a test run on a fresh simul event loop.
///
/// Options: `virtual_time` (the loop's clock jumps over idle waits, so a test that
/// sleeps for a minute finishes at once), `debug` (debug mode; otherwise the
/// `SIMUL_DEBUG` environment variable decides), each also accepted as `name = true` /
/// `name = false`.
///
/// See `simul::test` for examples.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Test, args, item)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Main,
    Test,
}

impl Kind {
    fn attr(self) -> &'static str {
        match self {
            Kind::Main => "#[simul::main]",
            Kind::Test => "#[simul::test]",
        }
    }
}

/// A compile error at a span.
struct Error {
    span: Span,
    message: String,
}

impl Error {
    fn new(span: Span, message: impl Into<String>) -> Error {
        Error {
            span,
            message: message.into(),
        }
    }

    /// `::core::compile_error!("message")`, every token at the error's span so the
    /// compiler underlines the offending input.
    fn to_tokens(&self) -> TokenStream {
        let mut lit = Literal::string(&self.message);
        lit.set_span(self.span);
        let tokens = [
            punct(':', Spacing::Joint, self.span),
            punct(':', Spacing::Alone, self.span),
            TokenTree::Ident(Ident::new("core", self.span)),
            punct(':', Spacing::Joint, self.span),
            punct(':', Spacing::Alone, self.span),
            TokenTree::Ident(Ident::new("compile_error", self.span)),
            punct('!', Spacing::Alone, self.span),
            group(
                Delimiter::Parenthesis,
                TokenTree::Literal(lit).into(),
                self.span,
            ),
            punct(';', Spacing::Alone, self.span),
        ];
        tokens.into_iter().collect()
    }
}

fn punct(c: char, spacing: Spacing, span: Span) -> TokenTree {
    let mut p = Punct::new(c, spacing);
    p.set_span(span);
    TokenTree::Punct(p)
}

fn group(delimiter: Delimiter, stream: TokenStream, span: Span) -> TokenTree {
    let mut g = Group::new(delimiter, stream);
    g.set_span(span);
    TokenTree::Group(g)
}

/// Fixed scaffolding, written as source text (call-site spans).
fn code(src: &str) -> TokenStream {
    src.parse().expect("simul-macros: scaffolding must parse")
}

/// Loop settings from the attribute's arguments.
#[derive(Default)]
struct Options {
    virtual_time: Option<bool>,
    debug: Option<bool>,
}

fn parse_options(kind: Kind, args: TokenStream) -> Result<Options, Error> {
    let mut opts = Options::default();
    let mut tokens = args.into_iter().peekable();
    while let Some(tt) = tokens.next() {
        let TokenTree::Ident(name) = &tt else {
            return Err(Error::new(
                tt.span(),
                format!(
                    "{}: expected an option (`virtual_time` or `debug`), found `{tt}`",
                    kind.attr()
                ),
            ));
        };
        let key = name.to_string();
        let slot = match key.as_str() {
            "virtual_time" => &mut opts.virtual_time,
            "debug" => &mut opts.debug,
            _ => {
                return Err(Error::new(
                    name.span(),
                    format!(
                        "{}: unknown option `{key}` (expected `virtual_time` or `debug`)",
                        kind.attr()
                    ),
                ))
            }
        };
        if slot.is_some() {
            return Err(Error::new(
                name.span(),
                format!("{}: option `{key}` given twice", kind.attr()),
            ));
        }
        let mut value = true;
        if matches!(tokens.peek(), Some(TokenTree::Punct(p)) if p.as_char() == '=') {
            let eq = tokens.next().expect("peeked");
            value = match tokens.next() {
                Some(TokenTree::Ident(v)) if v.to_string() == "true" => true,
                Some(TokenTree::Ident(v)) if v.to_string() == "false" => false,
                other => {
                    return Err(Error::new(
                        other.as_ref().map_or(eq.span(), TokenTree::span),
                        format!("{}: `{key} = ` takes `true` or `false`", kind.attr()),
                    ))
                }
            };
        }
        *slot = Some(value);
        match tokens.next() {
            None => break,
            Some(TokenTree::Punct(p)) if p.as_char() == ',' => {}
            Some(other) => {
                return Err(Error::new(
                    other.span(),
                    format!("{}: expected `,` between options", kind.attr()),
                ))
            }
        }
    }
    Ok(opts)
}

/// The pieces of `ATTRS HEAD async fn NAME() RET BODY`.
struct AsyncFn {
    /// Outer attributes, `#` and `[...]` pairs.
    attrs: Vec<TokenTree>,
    /// Visibility and qualifiers other than `async` (e.g. `pub`, `pub(crate)`).
    head: Vec<TokenTree>,
    fn_token: TokenTree,
    name: Ident,
    params: Group,
    /// `-> Type`, or empty.
    ret: Vec<TokenTree>,
    body: Group,
}

/// Splits the item into the pieces the expansion reuses.
fn parse_fn(kind: Kind, item: TokenStream) -> Result<AsyncFn, Error> {
    let tokens: Vec<TokenTree> = item.into_iter().collect();
    let mut i = 0;
    let mut attrs = Vec::new();
    while let (Some(TokenTree::Punct(p)), Some(TokenTree::Group(g))) =
        (tokens.get(i), tokens.get(i + 1))
    {
        if p.as_char() != '#' || g.delimiter() != Delimiter::Bracket {
            break;
        }
        attrs.push(tokens[i].clone());
        attrs.push(tokens[i + 1].clone());
        i += 2;
    }
    let mut head = Vec::new();
    let mut async_seen = false;
    let fn_token = loop {
        match tokens.get(i) {
            Some(TokenTree::Ident(id)) if id.to_string() == "fn" => break tokens[i].clone(),
            Some(TokenTree::Ident(id)) if id.to_string() == "async" => async_seen = true,
            Some(tt) => head.push(tt.clone()),
            None => {
                let span = tokens.first().map_or(Span::call_site(), TokenTree::span);
                return Err(Error::new(
                    span,
                    format!("{} applies to an `async fn`", kind.attr()),
                ));
            }
        }
        i += 1;
    };
    i += 1;
    if !async_seen {
        return Err(Error::new(
            fn_token.span(),
            format!(
                "{} requires an `async fn`: add `async` before `fn`",
                kind.attr()
            ),
        ));
    }
    let name = match tokens.get(i) {
        Some(TokenTree::Ident(id)) => id.clone(),
        _ => return Err(Error::new(fn_token.span(), "expected the function's name")),
    };
    i += 1;
    let params = match tokens.get(i) {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => g.clone(),
        Some(TokenTree::Punct(p)) if p.as_char() == '<' => {
            return Err(Error::new(
                p.span(),
                format!("{} functions cannot be generic", kind.attr()),
            ))
        }
        _ => return Err(Error::new(name.span(), "expected the parameter list")),
    };
    if !params.stream().is_empty() {
        return Err(Error::new(
            params.span(),
            format!("{} functions take no arguments", kind.attr()),
        ));
    }
    i += 1;
    let body = match tokens.last() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace && tokens.len() > i => {
            g.clone()
        }
        _ => {
            return Err(Error::new(
                name.span(),
                format!("{} needs a function body", kind.attr()),
            ))
        }
    };
    let ret: Vec<TokenTree> = tokens[i..tokens.len() - 1].to_vec();
    if let Some(w) = ret
        .iter()
        .find(|tt| matches!(tt, TokenTree::Ident(id) if id.to_string() == "where"))
    {
        return Err(Error::new(
            w.span(),
            format!("{} functions cannot have a `where` clause", kind.attr()),
        ));
    }
    if kind == Kind::Test {
        for pair in attrs.chunks(2) {
            if let TokenTree::Group(g) = &pair[1] {
                let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                if let [TokenTree::Ident(id)] = inner.as_slice() {
                    if id.to_string() == "test" {
                        return Err(Error::new(
                            g.span(),
                            "#[simul::test] already makes the function a test: remove #[test]",
                        ));
                    }
                }
            }
        }
    }
    Ok(AsyncFn {
        attrs,
        head,
        fn_token,
        name,
        params,
        ret,
        body,
    })
}

fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let original = item.clone();
    let f = match parse_fn(kind, item) {
        Ok(f) => f,
        Err(e) => {
            // Keep the item so the error above is the only one reported about it.
            let mut out = e.to_tokens();
            out.extend(original);
            return out;
        }
    };
    let (opts, error) = match parse_options(kind, args) {
        Ok(o) => (o, None),
        // Expand as if the options were absent, so only the option is reported.
        Err(e) => (Options::default(), Some(e)),
    };
    let mut out = TokenStream::new();
    if let Some(e) = error {
        out.extend(e.to_tokens());
    }
    if kind == Kind::Test {
        out.extend(code("#[::core::prelude::v1::test]"));
    }
    out.extend(f.attrs);
    out.extend(f.head);
    out.extend([f.fn_token.clone(), TokenTree::Ident(f.name.clone())]);
    out.extend([TokenTree::Group(f.params.clone())]);
    out.extend(f.ret.iter().cloned());

    // The body of the generated fn: the user's async fn, then the loop that runs it.
    let mut inner = TokenStream::new();
    inner.extend(code("async"));
    inner.extend([f.fn_token, TokenTree::Ident(f.name.clone())]);
    inner.extend([TokenTree::Group(f.params)]);
    inner.extend(f.ret);
    inner.extend([TokenTree::Group(f.body.clone())]);
    let call = format!("{}()", f.name);
    let what = if kind == Kind::Main {
        "simul::main"
    } else {
        "simul::test"
    };
    if kind == Kind::Main && opts.virtual_time.is_none() && opts.debug.is_none() {
        inner.extend(code(&format!("::simul::run({call})")));
    } else {
        let mut builder = String::from("::simul::EventLoop::builder()");
        if let Some(v) = opts.virtual_time {
            builder.push_str(&format!(".virtual_time({v})"));
        }
        if let Some(d) = opts.debug {
            builder.push_str(&format!(".debug({d})"));
        }
        inner.extend(code(&format!(
            "let event_loop = {builder}.build()\
                 .expect(\"{what}: cannot create the event loop\");\
             let output = event_loop.run_until_complete({call});\
             event_loop.close();\
             output"
        )));
    }
    out.extend([group(Delimiter::Brace, inner, f.body.span())]);
    out
}
