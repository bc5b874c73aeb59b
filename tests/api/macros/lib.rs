//! `#[on_both_backends]` on an `async fn name(backend: Backend)` of the
//! HTTP tests declares it as two tests, `name::sqlite` and
//! `name::postgres`, beside the function itself (no list to keep in step
//! with the functions). The PostgreSQL twin is built as an ignored test
//! unless `TEST_DATABASE_URL` was set when `cargo test` built it (the tests'
//! build script then sets `cfg(postgres_tests)`), so that a run without a
//! database reports it as ignored, never as passed.
//!
//! `#[on_both_backends(needs smtp_tests, "why")]` declares tests that also
//! need what the build script found for that cfg (a proxy, Python, the
//! OpenID provider, ...): both twins are ignored with `why` without it.
//!
//! `#[in_browser]` on an `async fn` of the console's browser tests declares
//! it as a test ignored unless chromedriver was found (`cfg(browser_tests)`);
//! `#[in_browser(axe)]`, one that also needs axe-core (`cfg(axe_tests)`).

use proc_macro::{TokenStream, TokenTree};

const POSTGRES_MISSING: &str = "\"TEST_DATABASE_URL is not set\"";

#[proc_macro_attribute]
pub fn on_both_backends(args: TokenStream, item: TokenStream) -> TokenStream {
    let needs = match needs(args) {
        Ok(needs) => needs,
        Err(message) => return compile_error(message),
    };
    let Some(name) = function_name(&item) else {
        return compile_error("#[on_both_backends] goes on an `async fn name(backend: Backend)`");
    };
    let (tool, postgres) = match needs {
        Some((cfg, why)) => (
            format!("#[cfg_attr(not({cfg}), ignore = {why})]"),
            format!("#[cfg_attr(all({cfg}, not(postgres_tests)), ignore = {POSTGRES_MISSING})]"),
        ),
        None => (
            String::new(),
            format!("#[cfg_attr(not(postgres_tests), ignore = {POSTGRES_MISSING})]"),
        ),
    };
    let twins = format!(
        "mod {name} {{
            #[actix_web::test]
            {tool}
            async fn sqlite() {{
                super::{name}(crate::helpers::Backend::Sqlite).await
            }}
            #[actix_web::test]
            {tool}
            {postgres}
            async fn postgres() {{
                super::{name}(crate::helpers::Backend::Postgres).await
            }}
        }}"
    );
    match twins.parse::<TokenStream>() {
        Ok(mut tests) => {
            tests.extend(item);
            tests
        }
        Err(_) => compile_error("#[on_both_backends] made tests that do not parse"),
    }
}

const NO_BROWSER: &str = "\"chromedriver not found (install the Debian packages chromium and \
    chromium-driver, or set CHROMEDRIVER)\"";
const NO_AXE: &str = "\"chromedriver or axe-core not found (install the Debian packages chromium \
    and chromium-driver, and run `npm ci` in tests/console_browser)\"";

#[proc_macro_attribute]
pub fn in_browser(args: TokenStream, item: TokenStream) -> TokenStream {
    let needs = match args.to_string().as_str() {
        "" => format!("#[cfg_attr(not(browser_tests), ignore = {NO_BROWSER})]"),
        "axe" => format!("#[cfg_attr(not(all(browser_tests, axe_tests)), ignore = {NO_AXE})]"),
        _ => return compile_error("expected #[in_browser] or #[in_browser(axe)]"),
    };
    match format!("#[actix_web::test] {needs}").parse::<TokenStream>() {
        Ok(mut test) => {
            test.extend(item);
            test
        }
        Err(_) => compile_error("#[in_browser] made attributes that do not parse"),
    }
}

/// `needs CFG, "why"`: the cfg and the literal, as written.
fn needs(args: TokenStream) -> Result<Option<(String, String)>, &'static str> {
    let tokens: Vec<TokenTree> = args.into_iter().collect();
    match tokens.as_slice() {
        [] => Ok(None),
        [TokenTree::Ident(needs), TokenTree::Ident(cfg), TokenTree::Punct(comma), TokenTree::Literal(why)]
            if needs.to_string() == "needs" && comma.as_char() == ',' =>
        {
            Ok(Some((cfg.to_string(), why.to_string())))
        }
        _ => Err("expected #[on_both_backends] or #[on_both_backends(needs CFG, \"why\")]"),
    }
}

/// The identifier after `fn`.
fn function_name(item: &TokenStream) -> Option<String> {
    let mut tokens = item.clone().into_iter();
    while let Some(token) = tokens.next() {
        if matches!(&token, TokenTree::Ident(ident) if ident.to_string() == "fn") {
            return match tokens.next() {
                Some(TokenTree::Ident(name)) => Some(name.to_string()),
                _ => None,
            };
        }
    }
    None
}

fn compile_error(message: &str) -> TokenStream {
    format!("compile_error!({message:?});")
        .parse()
        .unwrap_or_default()
}
