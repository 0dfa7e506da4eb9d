//! Compiles the touchscreen's `.slint` files (feature `ui`) with their bundled translations.

fn main() {
    #[cfg(feature = "ui")]
    {
        let config = slint_build::CompilerConfiguration::new()
            .with_bundled_translations("ui/translations")
            .with_default_translation_context(slint_build::DefaultTranslationContext::None)
            // Element ids and accessible labels stay in the build: the UI tests find buttons
            // by their label, and `qrpos ui snapshot` names screens by them.
            .with_debug_info(true);
        if let Err(e) = slint_build::compile_with_config("ui/app.slint", config) {
            eprintln!("ui/app.slint: {e}");
            std::process::exit(1);
        }
    }
}
