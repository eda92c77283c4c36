"""The one blueprint of the portal; view modules add their routes to it."""
from flask import Blueprint

bp = Blueprint("portal", __name__, url_prefix="/staff", template_folder="templates",
               static_folder="static", static_url_path="/static")
