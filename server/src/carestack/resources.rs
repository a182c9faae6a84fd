//! One kind of Carestack resource (patients, practitioners, appointments, facilities): JSON
//! objects by id, kept in the order they were created, which is the order lists and pages show.

use std::sync::RwLock;

use serde_json::Value;

/// Resources of one kind, oldest first.
#[derive(Default)]
pub struct Resources {
    items: RwLock<Vec<(String, Value)>>,
}

impl Resources {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<(String, Value)>> {
        self.items.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<(String, Value)>> {
        self.items.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a resource under `id`, unless `taken` says an existing one conflicts with it; then
    /// returns that one's id.
    pub fn insert_unless(
        &self,
        id: &str,
        value: Value,
        taken: impl Fn(&Value) -> bool,
    ) -> Result<(), String> {
        let mut items = self.write();
        if let Some((other, _)) = items.iter().find(|(i, v)| i == id || taken(v)) {
            return Err(other.clone());
        }
        items.push((id.to_string(), value));
        Ok(())
    }

    /// The resource with this id.
    pub fn get(&self, id: &str) -> Option<Value> {
        self.read().iter().find(|(i, _)| i == id).map(|(_, v)| v.clone())
    }

    /// Changes the resource with this id; its new value, or `None` when there is none.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut Value)) -> Option<Value> {
        let mut items = self.write();
        let (_, v) = items.iter_mut().find(|(i, _)| i == id)?;
        f(v);
        Some(v.clone())
    }

    /// Removes the resource with this id; whether there was one.
    pub fn remove(&self, id: &str) -> bool {
        let mut items = self.write();
        let before = items.len();
        items.retain(|(i, _)| i != id);
        items.len() != before
    }

    /// Every resource, oldest first.
    pub fn all(&self) -> Vec<Value> {
        self.read().iter().map(|(_, v)| v.clone()).collect()
    }

    /// The first resource that `pred` accepts.
    pub fn find(&self, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        self.read().iter().find(|(_, v)| pred(v)).map(|(_, v)| v.clone())
    }

    /// None.
    pub fn clear(&self) {
        self.write().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn insert_find_update_remove() {
        let r = Resources::default();
        r.insert_unless("a", json!({"n": 1}), |_| false).unwrap();
        r.insert_unless("b", json!({"n": 2}), |_| false).unwrap();
        assert_eq!(r.insert_unless("c", json!({"n": 2}), |v| v["n"] == 2), Err("b".to_string()));
        assert_eq!(r.insert_unless("a", json!({}), |_| false), Err("a".to_string()));
        assert_eq!(r.update("a", |v| v["n"] = json!(3)), Some(json!({"n": 3})));
        assert!(r.remove("a") && !r.remove("a"));
        assert_eq!(r.all(), vec![json!({"n": 2})]);
    }
}
