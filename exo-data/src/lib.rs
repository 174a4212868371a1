//! Preference-data loading for exo (records, readers, tokenisation and batching): see issue 4.
