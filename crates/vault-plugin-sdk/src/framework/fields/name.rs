//! [`Name`]: the `{name}` capture of a path, as handler arguments.

use super::{FieldData, FieldError, FieldSchema, FieldType, Fields};

/// The `{name}` capture of paths like `role/{name}`, for handlers that need
/// nothing else from the request: `async fn read(s: Arc<S>, req: Request,
/// Name(name): Name)`. A path whose pattern has no `{name}` fails to build,
/// so the name is never silently empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(pub String);

impl Fields for Name {
    fn schema() -> Vec<FieldSchema> {
        let mut field =
            FieldSchema::new("name", FieldType::String).description("Name of the entry.");
        field.required = true;
        field.path = true;
        vec![field]
    }

    fn from_data(data: &FieldData<'_>) -> Result<Self, FieldError> {
        data.get("name").map(Name)
    }

    fn update_from(&mut self, data: &FieldData<'_>) -> Result<(), FieldError> {
        if data.sent(&["name"]) {
            self.0 = data.get("name")?;
        }
        Ok(())
    }
}
