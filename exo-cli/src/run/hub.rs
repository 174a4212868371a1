//! Model IDs as users type them: `--model Qwen/Qwen2.5-0.5B` names the snapshot of that model in
//! the local Hugging Face cache when no folder of that name exists.
//!
//! The cache is huggingface_hub's: `$HF_HUB_CACHE`, else `$HUGGINGFACE_HUB_CACHE`, else
//! `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`; a
//! model is `models--org--name/snapshots/<revision>/` with the revision read from
//! `models--org--name/refs/main` (`org/name@branch` reads `refs/branch`), through hf-hub's
//! [`Cache`]. exo never downloads (hf-hub is built without its network features), so resolving
//! never waits on a network: fetch a model first with `huggingface-cli download org/name` (or
//! `hf download`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use hf_hub::{Cache, Repo, RepoType};

/// The folder `value` names: `value` itself when it exists or does not look like a model ID,
/// else the cached snapshot of the model ID `value` (`org/name`, optionally `@revision`).
///
/// # Errors
/// If `value` is a model ID, no such folder exists, and the cache has no snapshot of it (the
/// message names the cache and how to fill it).
pub fn model_location(value: &str) -> Result<PathBuf, String> {
    resolve(value, &|name| std::env::var_os(name))
}

/// [`model_location`] with the environment read through `env` (tests build their own).
fn resolve(value: &str, env: &dyn Fn(&str) -> Option<OsString>) -> Result<PathBuf, String> {
    let path = PathBuf::from(value);
    if path.exists() {
        return Ok(path);
    }
    let Some((id, revision)) = model_id(value) else {
        return Ok(path);
    };
    let Some(root) = cache_root(env) else {
        return Err(format!(
            "{value}: no such folder, and no Hugging Face cache to look in (set HF_HOME or \
             HF_HUB_CACHE)"
        ));
    };
    let repo = Repo::with_revision(id.to_owned(), RepoType::Model, revision.to_owned());
    let cached = Cache::new(root.clone()).repo(repo);
    for file in ["config.json", exo_lm::lora::ADAPTER_CONFIG_FILE] {
        if let Some(dir) = cached.get(file).as_deref().and_then(Path::parent) {
            return Ok(dir.to_path_buf());
        }
    }
    Err(format!(
        "{value}: no such folder, and no snapshot of the model {id} (revision {revision}) in the \
         Hugging Face cache {}; exo does not download: run `huggingface-cli download {id}` first",
        root.display()
    ))
}

/// `(org/name, revision)` when `value` has the shape of a Hugging Face model ID: one or two
/// names of letters, digits, `-`, `_` and `.` joined by `/` (not starting with `.` or `-`), with
/// an optional `@revision` (default `main`).
fn model_id(value: &str) -> Option<(&str, &str)> {
    let (id, revision) = value.split_once('@').unwrap_or((value, "main"));
    let valid_part = |p: &str| {
        !p.is_empty()
            && !p.starts_with(['.', '-'])
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let parts: Vec<&str> = id.split('/').collect();
    let ok = (1..=2).contains(&parts.len())
        && parts.iter().all(|p| valid_part(p))
        && !revision.is_empty()
        && !revision.contains("..");
    ok.then_some((id, revision))
}

/// huggingface_hub's cache folder, from the environment.
fn cache_root(env: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    set("HF_HUB_CACHE")
        .or_else(|| set("HUGGINGFACE_HUB_CACHE"))
        .or_else(|| set("HF_HOME").map(|h| h.join("hub")))
        .or_else(|| set("XDG_CACHE_HOME").map(|c| c.join("huggingface").join("hub")))
        .or_else(|| set("HOME").map(|h| h.join(".cache").join("huggingface").join("hub")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache laid out as huggingface_hub writes it: blobs, a snapshot of symlinks (plain
    /// copies where symlinks are not allowed), refs/main naming the snapshot.
    fn cache_with(root: &Path, id: &str, revision: &str, branch: &str) -> std::io::Result<PathBuf> {
        let repo = root.join(format!("models--{}", id.replace('/', "--")));
        let snapshot = repo.join("snapshots").join(revision);
        std::fs::create_dir_all(repo.join("blobs"))?;
        std::fs::create_dir_all(&snapshot)?;
        std::fs::create_dir_all(repo.join("refs"))?;
        std::fs::write(repo.join("blobs").join("abc123"), "{}")?;
        #[cfg(unix)]
        std::os::unix::fs::symlink(
            Path::new("../../blobs/abc123"),
            snapshot.join("config.json"),
        )?;
        #[cfg(not(unix))]
        std::fs::write(snapshot.join("config.json"), "{}")?;
        std::fs::write(repo.join("refs").join(branch), revision)?;
        Ok(snapshot)
    }

    fn env_of(pairs: Vec<(&'static str, PathBuf)>) -> impl Fn(&str) -> Option<OsString> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone().into_os_string())
        }
    }

    #[test]
    fn model_ids_resolve_to_the_snapshot_refs_main_names() -> std::io::Result<()> {
        let tmp = std::env::temp_dir().join(format!("exo-hub-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let hub = tmp.join("home").join("hub");
        let old = cache_with(&hub, "Org/tiny-model", "1111", "old")?;
        let main = cache_with(&hub, "Org/tiny-model", "2222", "main")?;
        let env = env_of(vec![("HF_HOME", tmp.join("home"))]);
        assert_eq!(resolve("Org/tiny-model", &env), Ok(main.clone()));
        assert_eq!(resolve("Org/tiny-model@old", &env), Ok(old));
        // HF_HUB_CACHE wins over HF_HOME.
        let other = tmp.join("other");
        let elsewhere = cache_with(&other, "Org/tiny-model", "3333", "main")?;
        let env2 = env_of(vec![("HF_HOME", tmp.join("home")), ("HF_HUB_CACHE", other)]);
        assert_eq!(resolve("Org/tiny-model", &env2), Ok(elsewhere));
        // Without any variable: ~/.cache/huggingface/hub.
        let home = tmp.join("user");
        let under_home = cache_with(
            &home.join(".cache").join("huggingface").join("hub"),
            "gpt2",
            "4444",
            "main",
        )?;
        assert_eq!(
            resolve("gpt2", &env_of(vec![("HOME", home)])),
            Ok(under_home)
        );
        // A model missing from the cache: one line naming the cache and the way to fill it.
        let err = resolve("Org/absent", &env).err().unwrap_or_default();
        assert!(
            err.contains("no snapshot of the model Org/absent (revision main)")
                && err.contains(&hub.display().to_string())
                && err.contains("huggingface-cli download Org/absent"),
            "{err}"
        );
        // Existing folders win; paths that are no ID stay paths (their error comes later).
        let folder = tmp.join("home");
        assert_eq!(resolve(&folder.display().to_string(), &env), Ok(folder));
        assert_eq!(resolve("./runs/sft", &env), Ok(PathBuf::from("./runs/sft")));
        assert_eq!(resolve("a/b/c", &env), Ok(PathBuf::from("a/b/c")));
        let _ = std::fs::remove_dir_all(&tmp);
        Ok(())
    }

    #[test]
    fn only_hub_shaped_names_are_model_ids() {
        assert_eq!(
            model_id("Qwen/Qwen2.5-0.5B"),
            Some(("Qwen/Qwen2.5-0.5B", "main"))
        );
        assert_eq!(model_id("gpt2@v1.0"), Some(("gpt2", "v1.0")));
        for path in [
            "/abs/path",
            "./rel",
            "../up",
            "a/b/c",
            "",
            "org/",
            "~/model",
            "a b",
        ] {
            assert_eq!(model_id(path), None, "{path}");
        }
    }
}
